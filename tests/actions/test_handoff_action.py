from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

import actions.handoff
from actions.handoff import UNAVAILABLE, ActionHumanHandoff
from handoff.db import Database
from handoff.models import Conversation, Handoff, OutboxItem
from handoff.rate_limit import hourly_limiter
from handoff.service import QUEUED_NOTICE
from tests.conftest import load_json


async def run(snapshot: str, domain: dict[str, Any]) -> tuple[CollectingDispatcher, list]:
    tracker = Tracker.from_dict(load_json(snapshot))
    dispatcher = CollectingDispatcher()
    events = await ActionHumanHandoff().run(dispatcher, tracker, domain)
    return dispatcher, events


def handoffs(db: Database) -> list[Handoff]:
    with db.session() as s:
        return list(s.scalars(select(Handoff)).all())


async def test_explicit_request_queues_with_full_packet(
    handoff_db: Database, domain: dict[str, Any]
) -> None:
    dispatcher, events = await run("tracker_handoff_explicit.json", domain)

    assert [m["text"] for m in dispatcher.messages] == [QUEUED_NOTICE]
    # Rasa keeps extra message keys as the bot event's metadata: a notice for the widget.
    assert dispatcher.messages[0]["parley_handoff"] == {"kind": "queued"}
    assert [e["event"] for e in events] == ["pause"]
    [h] = handoffs(handoff_db)
    assert h.sender_id == "cust-explicit" and h.state == "queued"
    assert h.trigger == "explicit_request" and h.trigger_confidence == pytest.approx(0.97)
    p = h.packet
    assert p["customer"]["name"] == "Maria Silva"
    assert p["customer"]["email"] == "maria@example.com"
    assert p["customer"]["page_url"] == "https://shop.example/orders/1234"
    assert p["language"] == "en"
    assert [s["path"] for s in p["sources"]] == ["shipping-times.md"]
    assert p["sources"][0]["used"] is True
    assert "parcel" in p["summary"]
    assert [t["role"] for t in p["transcript"]] == ["bot", "customer", "bot", "customer"]
    with handoff_db.session() as s:
        conv = s.scalar(select(Conversation))
        assert conv.state == "queued" and conv.first_bot_response_at is not None
        assert [o.op for o in s.scalars(select(OutboxItem))] == ["post_packet"]


async def test_second_run_keeps_one_ticket(handoff_db: Database, domain: dict[str, Any]) -> None:
    await run("tracker_handoff_explicit.json", domain)
    await run("tracker_handoff_explicit.json", domain)
    assert len(handoffs(handoff_db)) == 1


@pytest.mark.parametrize(
    ("snapshot", "trigger", "opener"),
    [
        ("tracker_handoff_abstentions.json", "abstentions", "couldn't help"),
        ("tracker_handoff_sensitive.json", "sensitive_topic", "should handle"),
        ("tracker_handoff_frustration.json", "frustration", "frustrating"),
        ("tracker_handoff_loop.json", "loop", "not getting this right"),
    ],
)
async def test_trigger_is_recorded(
    handoff_db: Database, domain: dict[str, Any], snapshot: str, trigger: str, opener: str
) -> None:
    dispatcher, events = await run(snapshot, domain)
    assert opener in dispatcher.messages[0]["text"]
    assert events == [{"event": "pause", "timestamp": None}]
    [h] = handoffs(handoff_db)
    assert h.trigger == trigger
    assert 0 < h.trigger_confidence <= 1


async def test_unreachable_database_does_not_pause(
    unreachable_handoff_db: None, domain: dict[str, Any]
) -> None:
    dispatcher, events = await run("tracker_handoff_explicit.json", domain)
    assert [m["text"] for m in dispatcher.messages] == [UNAVAILABLE]
    assert "parley_handoff" not in dispatcher.messages[0]  # a bot message, not a notice
    assert events == []


async def test_handoffs_per_conversation_are_rate_limited(
    handoff_db: Database, domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conversation that keeps asking for a person (a script, say) cannot flood the queue:
    past the hourly limit it is told when to try again, and nothing is queued."""
    monkeypatch.setattr(actions.handoff, "HANDOFF_LIMIT", hourly_limiter(2))
    for _ in range(2):
        dispatcher, events = await run("tracker_handoff_explicit.json", domain)
        assert [e["event"] for e in events] == ["pause"]
        with handoff_db.session() as s:  # hand it back, so the next request opens a new one
            conv = s.scalars(select(Conversation)).one()
            conv.state, conv.current_handoff_id = "bot", None
    dispatcher, events = await run("tracker_handoff_explicit.json", domain)
    assert events == []
    [message] = dispatcher.messages
    assert "several times" in message["text"] and "30 minutes" in message["text"]
    assert len(handoffs(handoff_db)) == 2
