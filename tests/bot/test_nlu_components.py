"""The custom NLU components (bot/components), exercised in the Rasa venv they run in."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
PROBE = Path(__file__).with_name("rasa_components_probe.py")

pytestmark = pytest.mark.skipif(not RASA_PYTHON.exists(), reason="Rasa venv not set up")


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [str(RASA_PYTHON), str(PROBE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_featurizer_adds_one_scaled_sentence_vector(probe: dict[str, Any]) -> None:
    assert probe["dense_shape"] == [1, 384]
    assert probe["dense_norm"] == pytest.approx(2.0, abs=1e-3)


def test_classifier_recognises_paraphrases(probe: dict[str, Any]) -> None:
    assert [i["name"] for i in probe["intents"]] == ["greet", "refund", "weather"]


def test_ranking_is_a_sorted_distribution(probe: dict[str, Any]) -> None:
    for intent, ranking in zip(probe["intents"], probe["rankings"], strict=True):
        confidences = [r["confidence"] for r in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) == pytest.approx(1.0, abs=1e-4)
        assert ranking[0] == intent


def test_persisted_classifier_predicts_the_same(probe: dict[str, Any]) -> None:
    for ranking, probs in zip(probe["rankings"], probe["reloaded_probs"], strict=True):
        assert max(probs) == pytest.approx(ranking[0]["confidence"], abs=1e-5)
