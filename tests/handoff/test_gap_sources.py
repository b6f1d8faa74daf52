"""The knowledge-gap loop's read side: abstentions, "No" answers and chats a person resolved,
seeded through the real service, and what is (not) a question behind a handoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from handoff.db import Database
from handoff.gap_sources import ABSTAINED_KIND, RESOLVED_BY_PERSON, SAID_NO, collect
from handoff.packet import collect_packet
from handoff.service import HandoffService

START = datetime(2026, 11, 2, 9, 0)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 30) -> float:
        self.now += timedelta(seconds=seconds)
        return self.now.replace(tzinfo=UTC).timestamp()


def user(clock: Clock, sender: str, text: str) -> dict[str, Any]:
    return {"event": "user", "sender_id": sender, "text": text, "timestamp": clock.tick()}


def abstention(clock: Clock, sender: str, question: str) -> dict[str, Any]:
    custom = {"answer_type": "abstain", "question": question, "sources": []}
    return {
        "event": "bot",
        "sender_id": sender,
        "text": "I don't know",
        "timestamp": clock.tick(2),
        "data": {"custom": custom},
    }


def handed_off(
    service: HandoffService,
    clock: Clock,
    sender: str,
    lines: list[str],
    trigger: str = "explicit_request",
    replies: tuple[str, ...] = ("Our showroom in Rotterdam is open on Saturdays.",),
    resolution: str = "resolved",
) -> None:
    events = [user(clock, sender, line) for line in lines]
    meta = {"session_started_metadata": {"name": "Maria Lopez"}}
    handoff_id = service.open_handoff(sender, collect_packet(events, meta, trigger)).handoff_id
    service.claim(handoff_id, "U1", "Ben Okafor")
    for reply in replies:
        clock.tick()
        service.agent_reply(handoff_id, "U1", reply)
    clock.tick()
    service.resolve(handoff_id, "U1", resolution)


def test_the_three_kinds_are_collected_with_what_drafts_need(db: Database) -> None:
    clock = Clock()
    service = HandoffService(db, clock=clock)
    for event in (
        user(clock, "c1", "do you have a showroom?"),
        abstention(clock, "c1", "do you have a showroom?"),
    ):
        service.note_rasa_event(event)
    clock.tick()
    service.record_feedback("c2", "no", "can I pay in instalments", "payment-methods.md")
    service.record_feedback("c2", "yes", "how long is the warranty", "warranty.md")
    handed_off(
        service,
        clock,
        "c3",
        ["hello", "Is there a shop where I can see the lamps?", "yes please"],
        replies=("Hi Maria, Ben here.", "Our showroom in Rotterdam is open on Saturdays."),
    )

    items = collect(db)
    assert [(i.kind, i.sender_id, i.question) for i in items] == [
        (ABSTAINED_KIND, "c1", "do you have a showroom?"),
        (SAID_NO, "c2", "can I pay in instalments"),
        (RESOLVED_BY_PERSON, "c3", "Is there a shop where I can see the lamps?"),
    ]
    said_no, resolved = items[1], items[2]
    assert said_no.article_path == "payment-methods.md"
    assert resolved.agent_replies == (
        "Hi Maria, Ben here.",
        "Our showroom in Rotterdam is open on Saturdays.",
    )
    assert (resolved.customer_name, resolved.agent_name) == ("Maria Lopez", "Ben Okafor")


def test_since_and_unresolved_chats_and_chats_without_a_question(db: Database) -> None:
    clock = Clock()
    service = HandoffService(db, clock=clock)
    for event in (user(clock, "old", "gift wrap?"), abstention(clock, "old", "gift wrap?")):
        service.note_rasa_event(event)
    clock.tick(3 * 86400)
    since = clock.now
    handed_off(service, clock, "nr", ["can you engrave the lamp?"], resolution="not_resolved")
    handed_off(service, clock, "only", ["hello, quick question", "I want to speak to a human"])
    handed_off(
        service,
        clock,
        "angry",
        ["do you deliver on saturdays", "this is useless, nobody understands me"],
        trigger="frustration",
    )

    assert [i.question for i in collect(db)][0] == "gift wrap?"
    recent = collect(db, since)
    # Not resolved: not an answer to learn from. Only asked for a person: no question.
    # Frustration: the complaint that triggered it is not the question.
    assert [(i.sender_id, i.question) for i in recent] == [("angry", "do you deliver on saturdays")]


def test_the_answerers_last_question_when_the_transcript_has_none(db: Database) -> None:
    clock = Clock()
    service = HandoffService(db, clock=clock)
    service.note_rasa_event(user(clock, "c4", "can I pay with two cards"))
    service.note_rasa_event(abstention(clock, "c4", "can I pay with two cards"))
    handed_off(service, clock, "c4", ["agent please"])
    resolved = [i for i in collect(db) if i.kind == RESOLVED_BY_PERSON]
    assert [i.question for i in resolved] == ["can I pay with two cards"]
