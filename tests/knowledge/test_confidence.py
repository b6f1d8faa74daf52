"""The trained answer confidence: served in NumPy exactly as trained, and a missing or broken
model file stops the answerer with a message that says what to do."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.confidence import (
    DEFAULT_MODEL,
    FEATURES,
    ConfidenceModel,
    ConfidenceModelError,
    answer_features,
)
from knowledge.service import KnowledgeService
from knowledge.settings import DEFAULT_MIN_SCORE, DEFAULT_SUGGEST_SCORE
from knowledge.text import clean_question
from tests.conftest import load_json
from tests.knowledge.conftest import settings_for

WARRANTY = "How long is the warranty on headphones?"


def test_serving_scores_equal_the_training_librarys_scores() -> None:
    model = ConfidenceModel.load()
    reference = load_json("confidence_reference.json")["rows"]
    assert len(reference) >= 10
    for row in reference:
        assert model.score(row["features"]) == pytest.approx(row["score"], abs=1e-9)


def test_the_shipped_model_says_what_it_was_trained_on() -> None:
    model = ConfidenceModel.load()
    assert model.features == FEATURES
    assert 0 < model.suggest_at < model.answer_at < 1
    assert model.about["trained_by"] == "bench/train_confidence.py"
    assert len(model.about["trained_on"]) == 9  # the sample and eight invented brands


def test_the_answer_confidence_is_the_models_probability(
    sample_service: KnowledgeService,
) -> None:
    model = sample_service.confidence
    assert model is not None
    question = clean_question(WARRANTY)
    sample_service.confidence = None  # the signals as the evidence score alone leaves them
    try:
        hits, evidence = sample_service.assess(question)
    finally:
        sample_service.confidence = model
    features = answer_features(question, hits, evidence)
    answer = sample_service.answer(WARRANTY)
    cited = (answer.sources or answer.tried)[0]
    assert float(str(cited["score"])) == pytest.approx(model.score(features), abs=1e-4)
    assert features["evidence"] == pytest.approx(hits[0].answer_score)
    assert features["log_words"] > 0 and 0 <= features["coverage"] <= 1


def _broken(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.json"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "is missing"),
        ("{not json", "cannot be read"),
        ('{"features": []}', "is incomplete"),
    ],
)
def test_a_missing_or_broken_model_gives_a_plain_error(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "model.json" if content is None else _broken(tmp_path, content)
    with pytest.raises(ConfidenceModelError) as caught:
        ConfidenceModel.load(path)
    message = str(caught.value)
    assert says in message and str(path) in message
    assert "KNOWLEDGE_CONFIDENCE_MODEL=off" in message and "train_confidence.py" in message


def test_a_model_of_other_signals_is_refused(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_MODEL.read_text())
    data["features"] = ["evidence", *data["features"][1:-1], "emoji"]
    with pytest.raises(ConfidenceModelError, match="trained on other signals"):
        ConfidenceModel.load(_broken(tmp_path, json.dumps(data)))


def test_the_answerer_does_not_start_on_a_broken_model(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    settings = settings_for(folder, tmp_path / "state", confidence_model=str(tmp_path / "nope"))
    with pytest.raises(ConfidenceModelError, match="is missing"):
        KnowledgeService(settings)


def test_off_answers_on_the_evidence_score_with_its_own_thresholds(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    svc = KnowledgeService(settings_for(folder, tmp_path / "state", confidence_model="off"))
    try:
        assert svc.confidence is None
        assert svc.thresholds() == (DEFAULT_MIN_SCORE, DEFAULT_SUGGEST_SCORE)
        svc.settings = replace(svc.settings, min_score=0.7, suggest_score=0.9)
        assert svc.thresholds() == (0.7, 0.7)  # a suggestion band never starts above answers
    finally:
        svc.stop()
