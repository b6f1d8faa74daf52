"""The Rasa-side trigger policy, run in Rasa's own venv on the tracker snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rasa_probe import ROOT, needs_rasa, run_probe

DATA = ROOT / "tests" / "data"

pytestmark = needs_rasa


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
    script = Path(__file__).parent / "rasa_side" / "probe_bridge.py"
    return run_probe(script, *[str(DATA / n) for n in names], timeout=300)


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
