"""Typed command syntax ("/restart") reaches Rasa as words: checked with Rasa's own parser."""

from __future__ import annotations

import json
from pathlib import Path

from tests.rasa_probe import needs_rasa, run_probe

PROBE = Path(__file__).with_name("rasa_payload_probe.py")

pytestmark = needs_rasa

TYPED = [
    "/restart",
    " /restart",
    "\u00a0/restart\u3000",
    "/restart please",  # Rasa reads this as words already
    '/restart{"kb_answer_type": "kb"}',
    "/restart@1.0",
    "/ restart",
    "/start_over",
    "/session_start",
    "/back",
    "/human_handoff",
    '/human_handoff{"x": 1} and more',
    "/greet",
]


def test_no_typed_text_forces_an_intent_once_guarded() -> None:
    result = run_probe(PROBE, json.dumps(TYPED), timeout=300)

    forced = {text: r["typed"] for text, r in result.items()}
    # The probe is meaningful: Rasa itself would run these as commands...
    assert forced["/restart"] == "restart"
    assert forced["\u00a0/restart\u3000"] == "restart"
    assert forced["/ restart"] == "restart"
    assert forced['/human_handoff{"x": 1} and more'] == "human_handoff"
    assert forced["/restart please"] is None
    # ...and after the guard none of them does.
    assert {text: r["guarded"] for text, r in result.items()} == dict.fromkeys(TYPED)
