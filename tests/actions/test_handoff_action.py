from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from parley_shared.rate_limit import hourly_limiter
from parley_shared.triggers import TRIGGER_SLOT, after_answer, load_config, on_user_message
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

import actions.handoff
from actions.handoff import ActionHumanHandoff
from handoff.db import Database
from handoff.event_broker import EventHandler
from handoff.models import Conversation, Handoff, OutboxItem
from handoff.service import QUEUED_NOTICE, HandoffService
from tests.conftest import load_json


async def run(
    snapshot: str | dict[str, Any], domain: dict[str, Any]
) -> tuple[CollectingDispatcher, list]:
    tracker = Tracker.from_dict(load_json(snapshot) if isinstance(snapshot, str) else snapshot)
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
    assert dispatcher.messages[0]["parley_handoff"] == {"kind": "queued", "state": "queued"}
    assert [e["event"] for e in events] == ["slot", "slot", "pause"]
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


def decided_by_policy(snapshot: str) -> dict[str, Any]:
    """The snapshot as the Rasa-side policy leaves it: the trigger in its slot (the policy's
    own decision is tested against Rasa in tests/handoff/rasa_side)."""
    data = load_json(snapshot)
    cfg = load_config()
    found = on_user_message(data["events"], cfg) or after_answer(data["events"], cfg)
    assert found is not None, snapshot
    value = {"kind": found.kind, "confidence": found.confidence, "detail": found.detail}
    data["slots"][TRIGGER_SLOT] = value
    return data


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
    dispatcher, events = await run(decided_by_policy(snapshot), domain)
    assert opener in dispatcher.messages[0]["text"]
    assert [e["event"] for e in events] == ["slot", "slot", "pause"]
    assert events[0] == {"event": "slot", "name": TRIGGER_SLOT, "value": None, "timestamp": None}
    [h] = handoffs(handoff_db)
    assert h.trigger == trigger
    assert 0 < h.trigger_confidence <= 1


async def test_without_the_policys_slot_it_is_an_explicit_request(
    handoff_db: Database, domain: dict[str, Any]
) -> None:
    """The action does not decide triggers itself: a frustrated tracker with no slot is an
    explicit request (the rules only route here when the customer asks)."""
    await run("tracker_handoff_frustration.json", domain)
    [h] = handoffs(handoff_db)
    assert h.trigger == "explicit_request"


async def test_an_unreachable_service_still_queues_through_the_broker(
    unreachable_handoff_db: None, domain: dict[str, Any], tmp_path: Path
) -> None:
    """The handoff service is down: the customer is told a person is coming, the bot
    pauses, and the request rides on Rasa's event broker (the slot), which the service
    opens once, however many times it arrives."""
    dispatcher, events = await run("tracker_handoff_explicit.json", domain)
    assert [m["text"] for m in dispatcher.messages] == [QUEUED_NOTICE]
    assert [e["event"] for e in events] == ["slot", "slot", "pause"]
    request = events[1]
    assert request["name"] == "handoff_request"
    assert request["value"]["packet"]["customer"]["name"] == "Maria Silva"

    db = Database(f"sqlite:///{tmp_path / 'later.db'}")
    service = HandoffService(db)
    handle = EventHandler(service)
    for _ in range(2):  # the broker may deliver it again after a restart
        handle({**request, "sender_id": "cust-explicit"})
    [h] = handoffs(db)
    assert h.sender_id == "cust-explicit" and h.state == "queued"
    assert h.packet["customer"]["email"] == "maria@example.com"
    db.dispose()


async def test_handoffs_per_conversation_are_rate_limited(
    handoff_db: Database, domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conversation that keeps asking for a person (a script, say) cannot flood the queue:
    past the hourly limit it is told when to try again, and nothing is queued."""
    monkeypatch.setattr(actions.handoff, "HANDOFF_LIMIT", hourly_limiter(2))
    for _ in range(2):
        dispatcher, events = await run("tracker_handoff_explicit.json", domain)
        assert events[-1]["event"] == "pause"
        with handoff_db.session() as s:  # hand it back, so the next request opens a new one
            conv = s.scalars(select(Conversation)).one()
            conv.state, conv.current_handoff_id = "bot", None
    dispatcher, events = await run("tracker_handoff_explicit.json", domain)
    assert events == []
    [message] = dispatcher.messages
    assert "several times" in message["text"] and "30 minutes" in message["text"]
    assert len(handoffs(handoff_db)) == 2
