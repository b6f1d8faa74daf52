"""What the widget receives over socket.io for the handoff's messages: Rasa's own
OutputChannel.send_response feeding bot/socketio_channel.py, run in Rasa's venv."""

from __future__ import annotations

import json
from pathlib import Path

from handoff.notices import HANDOFF_META, JOINED, QUEUED, joined_notice, notice_marker
from tests.rasa_probe import needs_rasa, run_probe

pytestmark = needs_rasa


def emitted(events: list[dict]) -> list[dict]:
    script = Path(__file__).parent / "rasa_side" / "probe_socketio.py"
    return [e["data"] for e in run_probe(script, json.dumps(events), timeout=300)]


def bot(text: str, marker: dict | None = None) -> dict:
    return {
        "event": "bot",
        "text": text,
        "timestamp": 1.0,
        "metadata": {HANDOFF_META: marker} if marker else {},
    }


def shown(text: str, agent: str = "", kind: str = "", name: str = "", state: str = "") -> dict:
    marker = {"agent": agent, "kind": kind, "state": state, "name": name}
    return {"text": text, "metadata": {HANDOFF_META: marker}}


def test_notices_agent_messages_and_bot_messages_as_the_widget_gets_them() -> None:
    joined = {"key": "h1:claimed:customer", "agent": "", **notice_marker(JOINED, "Ana")}
    out = emitted(
        [
            bot("Queued.\n\nUntil then I'll stay quiet.", notice_marker(QUEUED)),
            bot(joined_notice("Ana"), joined),
            bot("Hi, Ana here.", {"key": "rasa:slack:1", "agent": "Ana"}),
            bot("Shipping takes 3 days."),
            # A goodbye is marked (last part only): the widget then fetches the survey's key.
            {**bot("Bye!\n\nCome back any time."), "metadata": {"utter_action": "utter_goodbye"}},
            {**bot("Anything else?"), "metadata": {"utter_action": "utter_anything_else"}},
        ]
    )
    assert out == [
        # Split in parts like every message, each part marked.
        shown("Queued.", kind="queued", state="queued"),
        shown("Until then I'll stay quiet.", kind="queued", state="queued"),
        shown(
            "Ana from support (human) joined the chat.", kind="joined", name="Ana", state="agent"
        ),
        shown("Hi, Ana here.", agent="Ana"),  # the idempotency key stays on the server
        {"text": "Shipping takes 3 days."},
        {"text": "Bye!"},
        {"text": "Come back any time.", "metadata": {"parley_end": "goodbye"}},
        {"text": "Anything else?"},
    ]
