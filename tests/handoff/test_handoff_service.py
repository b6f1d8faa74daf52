from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from handoff.models import (
    ABANDONED,
    AGENT,
    BOT,
    CLOSED,
    QUEUED,
    RESOLVED_BY_BOT,
    RESOLVED_BY_HUMAN,
    UNRESOLVED,
    Conversation,
    OutboxItem,
    utcnow,
)
from handoff.service import AI_BACK_NOTICE, HandoffError, HandoffService
from tests.handoff.samples import sample_packet


def outbox(service: HandoffService) -> list[OutboxItem]:
    with service.db.session() as s:
        return list(s.scalars(select(OutboxItem).order_by(OutboxItem.id)).all())


def conversation(service: HandoffService, sender: str) -> Conversation:
    with service.db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.sender_id == sender))
        assert conv is not None
        return conv


def test_full_lifecycle_bot_queued_agent_bot(service: HandoffService) -> None:
    opened = service.open_handoff("cust-1", sample_packet())
    assert opened.created
    assert conversation(service, "cust-1").state == QUEUED
    # A second trigger while queued keeps the same ticket.
    assert service.open_handoff("cust-1", sample_packet()) == type(opened)(opened.handoff_id, False)

    h = service.claim(opened.handoff_id, "U1", "Ana")
    assert h.state == AGENT and h.agent_name == "Ana"
    assert conversation(service, "cust-1").state == AGENT

    assert service.agent_reply(opened.handoff_id, "U1", "Hi, Ana here", source_key="slack:1")
    # The same Slack message delivered twice is relayed once.
    assert not service.agent_reply(opened.handoff_id, "U1", "Hi, Ana here", source_key="slack:1")

    service.resolve(opened.handoff_id, "U1", "resolved", note="sent label")
    conv = conversation(service, "cust-1")
    assert conv.state == BOT and conv.outcome == RESOLVED_BY_HUMAN

    items = outbox(service)
    ops = [(i.target, i.op) for i in items]
    assert ops[0] == ("slack", "post_packet")
    rasa = [i.payload for i in items if i.target == "rasa"]
    assert rasa[0]["text"] == "Ana from support (human) joined the chat."
    assert rasa[1]["text"] == "Hi, Ana here" and rasa[1]["agent"] == "Ana"
    assert rasa[0]["notice"] == {"kind": "joined", "state": "agent", "name": "Ana"}
    assert "notice" not in rasa[1]
    assert rasa[2] == {
        "sender_id": "cust-1",
        "text": AI_BACK_NOTICE,
        "resume": True,
        "notice": {"kind": "handback", "state": "bot"},
    }
    assert len({i.key for i in items}) == len(items)


def test_second_claim_is_refused_politely(service: HandoffService) -> None:
    hid = service.open_handoff("cust-2", sample_packet()).handoff_id
    service.claim(hid, "U1", "Ana")
    with pytest.raises(HandoffError, match="already claimed by Ana"):
        service.claim(hid, "U2", "Bo")
    # claiming again as the owner is harmless
    assert service.claim(hid, "U1", "Ana").agent_id == "U1"


def test_only_owner_replies_and_not_before_claim(service: HandoffService) -> None:
    hid = service.open_handoff("cust-3", sample_packet()).handoff_id
    with pytest.raises(HandoffError, match="claim it"):
        service.agent_reply(hid, "U1", "hello")
    service.claim(hid, "U1", "Ana")
    with pytest.raises(HandoffError, match="Only Ana"):
        service.agent_reply(hid, "U2", "hello")
    with pytest.raises(HandoffError, match="Only Ana"):
        service.resolve(hid, "U2", "resolved")
    service.resolve(hid, "U1", "not_resolved", hand_back=False)
    with pytest.raises(HandoffError, match="closed"):
        service.agent_reply(hid, "U1", "still there?")
    conv = conversation(service, "cust-3")
    assert conv.state == CLOSED and conv.outcome == UNRESOLVED


def test_customer_messages_relay_only_while_handed_off(service: HandoffService) -> None:
    assert service.customer_message("cust-4", "hi", 50.0, "ev:1") is None
    hid = service.open_handoff("cust-4", sample_packet(until=100.0)).handoff_id
    # Already part of the packet transcript: not relayed again.
    assert service.customer_message("cust-4", "I want a human", 99.0, "ev:2") is None
    assert service.customer_message("cust-4", "<!channel> hurry", 101.0, "ev:3") == hid
    assert service.customer_message("cust-4", "<!channel> hurry", 101.0, "ev:3") is None
    threads = [i.payload["text"] for i in outbox(service) if i.op == "post_thread"]
    assert threads == ["*Customer:* &lt;!channel&gt; hurry"]


def test_spam_can_be_closed_from_queue(service: HandoffService) -> None:
    hid = service.open_handoff("cust-5", sample_packet()).handoff_id
    service.resolve(hid, "U9", "spam", hand_back=False, agent_name="Zed")
    assert conversation(service, "cust-5").state == CLOSED
    with pytest.raises(HandoffError, match="Unknown outcome"):
        service.resolve(hid, "U9", "fixed")


def test_idle_sweep_outcomes(service: HandoffService) -> None:
    service.note_rasa_event({"sender_id": "bot-ok", "event": "user", "timestamp": 10.0})
    service.note_rasa_event({"sender_id": "bot-ok", "event": "bot", "timestamp": 11.0})
    service.note_rasa_event({"sender_id": "bot-no", "event": "user", "timestamp": 10.0})
    service.note_rasa_event(
        {"sender_id": "bot-no", "event": "slot", "name": "kb_answer_type", "value": "abstain"}
    )
    service.open_handoff("waiting", sample_packet())
    later = utcnow() + timedelta(hours=2)
    assert service.sweep_idle(timedelta(minutes=30), now=later) == 3
    assert conversation(service, "bot-ok").outcome == RESOLVED_BY_BOT
    assert conversation(service, "bot-ok").first_bot_response_at is not None
    assert conversation(service, "bot-no").outcome == UNRESOLVED
    assert conversation(service, "waiting").outcome == ABANDONED
    assert service.sweep_idle(timedelta(minutes=30), now=later) == 0


def test_csat_is_stored(service: HandoffService) -> None:
    service.record_csat("c-csat", 4, "quick")
    assert conversation(service, "c-csat").csat == 4
    with pytest.raises(HandoffError):
        service.record_csat("c-csat", 9)


def test_concurrent_creation_of_the_conversation_row(
    service: HandoffService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event tail creates the row between our look-up and our insert."""
    original = HandoffService._conversation
    raced = []

    def racing(self, session, sender_id):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            # We looked and found nothing; now the other process commits the row first.
            HandoffService(service.db).note_rasa_event(
                {"sender_id": sender_id, "event": "user", "timestamp": 5.0}
            )
            session.add(Conversation(sender_id=sender_id, state=BOT))
            session.flush()  # UNIQUE constraint fails here
        return original(self, session, sender_id)

    monkeypatch.setattr(HandoffService, "_conversation", racing)
    opened = service.open_handoff("racer", sample_packet())
    assert opened.created and raced
    assert conversation(service, "racer").state == QUEUED
