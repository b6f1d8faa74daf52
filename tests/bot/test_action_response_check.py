"""Rasa checks every action server response against a schema; bot/action_recovery.py builds
that check once per process instead of once per response. Same verdicts, same messages."""

from __future__ import annotations

import json
from pathlib import Path

from tests.rasa_probe import needs_rasa, run_probe

PROBE = Path(__file__).with_name("rasa_action_response_probe.py")

pytestmark = needs_rasa

ANSWER = {
    "events": [
        {"event": "slot", "timestamp": None, "name": "kb_answer_type", "value": "kb"},
        {"event": "slot", "timestamp": None, "name": "kb_sources", "value": [{"path": "a.md"}]},
    ],
    "responses": [
        {
            "text": "Standard delivery to the UK takes 3–6 business days.",
            "buttons": [{"title": "That helped", "payload": "/affirm"}],
            "custom": {"answer_type": "kb", "sources": []},
        }
    ],
}
BROKEN = [
    {"events": [{"event": "slot", "name": 3}], "responses": []},
    {"events": "not a list", "responses": []},
    {"events": [], "responses": ["not an object"]},
]


def test_cached_check_gives_rasas_verdicts_and_checks_the_schema_once() -> None:
    result = run_probe(PROBE, json.dumps([ANSWER, *BROKEN]), timeout=300)

    assert result["cached"] == result["rasa"]
    assert [v["valid"] for v in result["rasa"]] == [True, False, False, False]
    assert all(
        "Failed to validate Action server response" in v["message"] for v in result["rasa"][1:]
    )
    assert result["schema_checks"] == 1  # built once, on the first response
