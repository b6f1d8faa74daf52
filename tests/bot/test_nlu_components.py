"""The custom NLU components (bot/components), exercised in the Rasa venv they run in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.rasa_probe import needs_rasa, run_probe

PROBE = Path(__file__).with_name("rasa_components_probe.py")

pytestmark = needs_rasa


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    result: dict[str, Any] = run_probe(PROBE)
    return result


def test_featurizer_joins_three_layers_into_one_scaled_vector(probe: dict[str, Any]) -> None:
    assert probe["dense_shape"] == [1, 3 * 384]
    assert probe["dense_norm"] == pytest.approx(2.0, abs=1e-3)


def test_classifier_recognises_paraphrases(probe: dict[str, Any]) -> None:
    assert [i["name"] for i in probe["intents"][:3]] == ["greet", "refund", "weather"]


def test_confidence_is_probability_times_familiarity(probe: dict[str, Any]) -> None:
    for intent, ranking, probs, familiar in zip(
        probe["intents"],
        probe["rankings"],
        probe["probs"],
        probe["familiarity"],
        strict=True,
    ):
        confidences = [r["confidence"] for r in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert ranking[0] == intent
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert sum(confidences) == pytest.approx(familiar, abs=1e-4)
        assert intent["confidence"] == pytest.approx(max(probs) * familiar, abs=1e-5)


def test_unfamiliar_message_is_less_familiar_than_paraphrases(probe: dict[str, Any]) -> None:
    *paraphrases, unfamiliar = probe["familiarity"]
    assert all(0.0 <= f <= 1.0 for f in probe["familiarity"])
    assert unfamiliar < min(paraphrases) - 0.1
    # "hey hello" is nearly a training example.
    assert paraphrases[0] > 0.8


def test_only_routine_examples_are_kept_for_familiarity(probe: dict[str, Any]) -> None:
    assert probe["stored_examples"] == 12
    assert probe["reloaded_examples"] == 12


def test_persisted_classifier_predicts_the_same(probe: dict[str, Any]) -> None:
    for ranking, probs in zip(probe["rankings"], probe["reloaded_probs"], strict=True):
        assert max(probs) == pytest.approx(ranking[0]["confidence"], abs=1e-5)


def test_classifier_is_scikit_learn_logistic_regression(probe: dict[str, Any]) -> None:
    assert probe["model"] == "sklearn.linear_model._logistic.LogisticRegression"


def test_classifier_stores_arrays_and_names_without_pickle(probe: dict[str, Any]) -> None:
    # Coefficients and intercepts as plain arrays (loaded with allow_pickle=False), intent
    # names as JSON, the routine examples' sentence vectors for familiarity.
    assert probe["stored_files"] == ["examples.npy", "labels.json", "weights.npz"]
    assert probe["stored_arrays"] == {"coef": [4, probe["n_features"]], "intercept": [4]}


def test_two_intent_classifier_reloads_and_predicts_the_same(probe: dict[str, Any]) -> None:
    assert probe["pair_labels"] == ["greet", "refund"]
    for probs, reloaded in zip(probe["pair_probs"], probe["pair_reloaded_probs"], strict=True):
        assert len(probs) == 2
        assert reloaded == pytest.approx(probs, abs=1e-5)
    # "please give me a refund for the shoes"
    assert probe["pair_probs"][1][1] > probe["pair_probs"][1][0]
