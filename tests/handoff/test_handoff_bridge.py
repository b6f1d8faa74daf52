"""The Rasa-side trigger policy, run in Rasa's own venv on the tracker snapshots."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
DATA = ROOT / "tests" / "data"

pytestmark = pytest.mark.skipif(not RASA_PYTHON.exists(), reason="Rasa venv not set up")


@pytest.fixture(scope="module")
def predictions() -> dict:
    names = [
        "tracker_handoff_abstentions.json",
        "tracker_handoff_sensitive.json",
        "tracker_handoff_frustration.json",
        "tracker_handoff_loop.json",
        "tracker_handoff_explicit.json",
        "tracker_question.json",
    ]
    proc = subprocess.run(
        [
            str(RASA_PYTHON),
            str(Path(__file__).parent / "rasa_side" / "probe_bridge.py"),
            *[str(DATA / n) for n in names],
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "name",
    [
        "tracker_handoff_abstentions.json",
        "tracker_handoff_sensitive.json",
        "tracker_handoff_frustration.json",
        "tracker_handoff_loop.json",
    ],
)
def test_policy_hands_off(predictions: dict, name: str) -> None:
    assert predictions[name]["action"] == "action_human_handoff"
    assert predictions[name]["confidence"] == 1.0
    assert predictions[name]["priority"] > 6  # outranks RulePolicy on a tie


@pytest.mark.parametrize("name", ["tracker_handoff_explicit.json", "tracker_question.json"])
def test_policy_stays_out_otherwise(predictions: dict, name: str) -> None:
    # The explicit request is the rules' job; an ordinary question is the answerer's.
    assert predictions[name]["action"] is None
