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
from handoff.models import AnswerFeedback
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


async def test_an_unreachable_database_does_not_break_the_conversation(
    unreachable_handoff_db: None, domain
) -> None:
    dispatcher, events = await run(snapshot("kb", "deny"), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_answer_did_not_help"]
    assert events[0]["value"] == "abstain"


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
