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
    # It decides why, once: the handoff action reads the slot it sets.
    why = predictions[name]["slots"]["handoff_trigger"]
    assert why["kind"] == EXPECTED[name] and 0 < why["confidence"] <= 1


EXPECTED = {
    "tracker_handoff_abstentions.json": "abstentions",
    "tracker_handoff_sensitive.json": "sensitive_topic",
    "tracker_handoff_frustration.json": "frustration",
    "tracker_handoff_loop.json": "loop",
}


def test_an_explicit_request_gets_its_reason_from_the_policy_too(predictions: dict) -> None:
    """The rules route it to the handoff; the policy still says why, in the slot."""
    why = predictions["tracker_handoff_explicit.json"]["slots"]["handoff_trigger"]
    assert why["kind"] == "explicit_request" and why["detail"] == "intent human_handoff"


@pytest.mark.parametrize("name", ["tracker_handoff_explicit.json", "tracker_question.json"])
def test_policy_stays_out_otherwise(predictions: dict, name: str) -> None:
    # The explicit request is the rules' job; an ordinary question is the answerer's.
    assert predictions[name]["action"] is None
    if name == "tracker_question.json":
        assert "handoff_trigger" not in predictions[name]["slots"]
