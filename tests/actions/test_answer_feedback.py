"""action_answer_feedback: the customer's yes/no on an answer or suggestion is stored, and a
"no" offers a person."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from parley_shared.triggers import TriggerConfig, consecutive_abstentions, explain
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.answer_feedback import ActionAnswerFeedback
from handoff.db import Database
from handoff.event_broker import EventHandler
from handoff.models import AnswerFeedback
from handoff.service import HandoffService
from tests.conftest import load_json

SNAPSHOT = "kb_tracker_feedback_no_to_answer.json"


def snapshot(answer_type: str = "kb", intent: str = "deny") -> dict[str, Any]:
    data = copy.deepcopy(load_json(SNAPSHOT))
    data["slots"]["kb_answer_type"] = answer_type
    data["latest_message"]["intent"]["name"] = intent
    data["events"][-1]["parse_data"]["intent"]["name"] = intent
    for e in data["events"]:
        if e["event"] == "slot":
            e["value"] = answer_type
        if e["event"] == "bot":
            e["data"]["custom"]["answer_type"] = answer_type
    return data


async def run(data: dict[str, Any], domain: dict[str, Any]) -> tuple[CollectingDispatcher, list]:
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerFeedback().run(dispatcher, Tracker.from_dict(data), domain)
    return dispatcher, events


def stored(db: Database) -> list[AnswerFeedback]:
    with db.session() as s:
        return list(s.scalars(select(AnswerFeedback)).all())


async def test_no_to_an_answer_is_stored_and_offers_a_person(handoff_db, domain) -> None:
    dispatcher, events = await run(snapshot("kb", "deny"), domain)

    [row] = stored(handoff_db)
    assert (row.sender_id, row.verdict, row.answer_type) == ("kb-feedback-1", "no", "kb")
    assert row.question == "How long is the warranty on headphones?"
    # The article the answer quoted, not the runner-up it looked at.
    assert (row.article_path, row.article_version) == ("warranty.md", "v-3f9a")
    assert row.confidence == pytest.approx(0.612)
    assert [m["response"] for m in dispatcher.messages] == ["utter_answer_did_not_help"]
    assert events == [
        {"event": "slot", "timestamp": None, "name": "kb_answer_type", "value": "abstain"}
    ]


async def test_yes_to_a_suggestion_is_stored_and_the_bot_is_glad(handoff_db, domain) -> None:
    dispatcher, events = await run(snapshot("suggest", "affirm"), domain)

    [row] = stored(handoff_db)
    assert (row.verdict, row.answer_type) == ("yes", "suggest")
    assert [m["response"] for m in dispatcher.messages] == ["utter_glad_to_help"]
    assert events[0]["value"] is None


async def test_no_to_a_suggestion_leaves_the_handoff_to_the_rules(handoff_db, domain) -> None:
    data = snapshot("suggest", "deny")
    dispatcher, events = await run(data, domain)

    assert [r.verdict for r in stored(handoff_db)] == ["no"]
    assert dispatcher.messages == []  # the handoff action speaks next
    assert events[0]["value"] == "declined"
    # The handoff packet says why: the customer turned the suggestion down.
    trigger = explain(data["events"] + events, TriggerConfig())
    assert trigger.kind == "explicit_request"
    assert trigger.detail == "said the suggested article did not answer it"


async def test_an_unreachable_service_gets_the_verdict_through_the_broker(
    unreachable_handoff_db: None, domain, tmp_path
) -> None:
    """The handoff service is down: the conversation goes on, and the verdict rides on
    Rasa's event broker (the `answer_feedback` slot), stored once however often it comes."""
    data = snapshot("kb", "deny")
    dispatcher, events = await run(data, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_answer_did_not_help"]
    assert events[0]["value"] == "abstain"
    [slot] = [e for e in events if e["name"] == "answer_feedback"]
    assert slot["value"]["verdict"] == "no"
    assert slot["value"]["at"] == data["events"][-1]["timestamp"]  # when the customer said it

    db = Database(f"sqlite:///{tmp_path / 'later.db'}")
    service = HandoffService(db)
    handle = EventHandler(service)
    for _ in range(2):  # the broker may deliver it again after a restart
        handle({**slot, "sender_id": "kb-feedback-1"})
    # ... and the action server's own call, had it got through after all, is the same record.
    assert service.record_feedback_from("kb-feedback-1", slot["value"]) is False
    [row] = stored(db)
    assert (row.sender_id, row.verdict, row.answer_type) == ("kb-feedback-1", "no", "kb")
    assert (row.article_path, row.question) == (
        "warranty.md",
        "How long is the warranty on headphones?",
    )
    assert row.confidence == pytest.approx(0.612)
    # A slot that is not a verdict is logged and skipped; the follower goes on.
    handle({**slot, "sender_id": "kb-feedback-1", "value": {"verdict": "maybe"}})
    assert len(stored(db)) == 1
    db.dispose()


async def test_the_same_verdict_twice_through_the_api_is_one_record(handoff_db, domain) -> None:
    data = snapshot("kb", "deny")
    await run(data, domain)
    await run(data, domain)  # a retried call after a lost reply
    assert len(stored(handoff_db)) == 1


def test_a_no_counts_as_a_miss_and_a_suggestion_does_not() -> None:
    cfg = TriggerConfig()
    events = load_json(SNAPSHOT)["events"]
    no = {"event": "slot", "name": "kb_answer_type", "value": "abstain"}
    declined = dict(no, value="declined")
    assert consecutive_abstentions(events, cfg) == 0
    assert consecutive_abstentions(events + [no], cfg) == 1
    assert consecutive_abstentions(events + [declined], cfg) == 1
    suggested = copy.deepcopy(events[:-1])
    for e in suggested:
        if e["event"] == "slot":
            e["value"] = "suggest"
    assert consecutive_abstentions(suggested, cfg) == 0
