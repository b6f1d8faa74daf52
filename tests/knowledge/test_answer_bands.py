"""Three bands of confidence: answer, suggest (and ask), abstain."""

from __future__ import annotations

from dataclasses import replace

from knowledge.answer import SUGGEST_ASK, Answer, suggest
from knowledge.service import KnowledgeService
from tests.fake_openai import FakeOpenAI

WARRANTY = "How long is the warranty on headphones?"


def confidence(answer: Answer) -> float:
    return float(str((answer.sources or answer.tried)[0]["score"]))


def banded(svc: KnowledgeService, min_score: float, suggest_score: float) -> KnowledgeService:
    svc.settings = replace(svc.settings, min_score=min_score, suggest_score=suggest_score)
    return svc


def test_each_band_gives_its_answer_type(sample_service: KnowledgeService) -> None:
    original = sample_service.settings
    try:
        c = confidence(banded(sample_service, -1.0, -1.0).answer(WARRANTY))
        kb = banded(sample_service, c - 0.01, c - 0.02).answer(WARRANTY)
        middle = banded(sample_service, c + 0.01, c - 0.01).answer(WARRANTY)
        low = banded(sample_service, c + 0.02, c + 0.01).answer(WARRANTY)
    finally:
        sample_service.settings = original

    assert kb.answer_type == "kb" and "2-year" in kb.text
    assert middle.answer_type == "suggest"
    # Honest about its doubt, quotes the same evidence with its citation, and asks.
    assert middle.text.startswith("I'm not sure, but this article may answer it: ")
    assert "2-year" in middle.text and middle.text.endswith(SUGGEST_ASK)
    assert "Source: " in middle.text
    assert middle.sources == kb.sources and middle.payload()["answer_type"] == "suggest"
    assert low.answer_type == "abstain" and low.sources == []


def test_the_shipped_thresholds_suggest_below_the_answer_band(
    sample_service: KnowledgeService,
) -> None:
    answer_at, suggest_at = sample_service.thresholds()
    assert suggest_at < answer_at
    original = sample_service.settings
    try:
        # Turning suggestions off: the band starts where answers do.
        sample_service.settings = replace(original, suggest_score=answer_at)
        assert sample_service.thresholds() == (answer_at, answer_at)
    finally:
        sample_service.settings = original


def test_only_a_quoted_answer_becomes_a_suggestion() -> None:
    nothing = Answer("abstain", "I don't know", [], [], "none")
    assert suggest(nothing) is nothing


def test_a_model_answer_failing_its_check_leaves_the_suggestion_quoted(
    sample_service: KnowledgeService,
) -> None:
    fake = FakeOpenAI()
    try:
        c = confidence(sample_service.answer(WARRANTY))
        settings = replace(
            sample_service.settings,
            openai_api_key="sk-test",
            openai_base_url=fake.url,
            openai_model="test-model",
            min_score=c + 0.05,
            suggest_score=c - 0.05,
        )
        svc = KnowledgeService(settings)
        svc.sync()
        try:
            answer = svc.answer(WARRANTY)
        finally:
            svc.stop()
        # The model is asked in this band too; its reply (a shipping time) is not in the
        # warranty passages, so the suggestion quotes the article and nothing it wrote.
        assert len(fake.requests) == 1 and answer.grounding == "failed"
        assert answer.answer_type == "suggest" and answer.generated_by == "extractive"
    finally:
        fake.close()
