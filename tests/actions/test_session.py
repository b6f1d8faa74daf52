from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.session import DISCLOSURE, ActionSessionStart
from tests.conftest import load_json


async def run(snapshot: str, domain: dict[str, Any]) -> tuple[CollectingDispatcher, list]:
    tracker = Tracker.from_dict(load_json(snapshot))
    dispatcher = CollectingDispatcher()
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    return dispatcher, events


async def test_new_conversation_opens_with_ai_disclosure(domain: dict[str, Any]) -> None:
    dispatcher, events = await run("tracker_first_message.json", domain)

    assert [m["text"] for m in dispatcher.messages] == [DISCLOSURE]
    assert "AI assistant" in DISCLOSURE and "person" in DISCLOSURE
    assert events[0]["event"] == "session_started"
    assert events[-1]["event"] == "action" and events[-1]["name"] == "action_listen"
    assert not any(e["event"] == "pause" for e in events)


async def test_session_start_keeps_the_customer_metadata(domain: dict[str, Any]) -> None:
    _, events = await run("tracker_first_message.json", domain)

    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["session_started_metadata"]["page_url"] == "https://shop.example/help"


async def test_expired_session_of_a_paused_chat_stays_paused_and_silent(
    domain: dict[str, Any],
) -> None:
    dispatcher, events = await run("tracker_paused_expired_session.json", domain)

    assert dispatcher.messages == []
    kinds = [e["event"] for e in events]
    assert kinds[0] == "session_started"
    assert "pause" in kinds
    # the pause must come after session_started, which resets the tracker
    assert kinds.index("pause") > kinds.index("session_started")
    assert {
        e["name"]: e["value"] for e in events if e["event"] == "slot" and e["value"] is not None
    } == {"kb_answer_type": "abstain", "kb_sources": []}


async def test_slots_are_not_carried_over_when_the_domain_says_so(domain: dict[str, Any]) -> None:
    domain = {**domain, "session_config": {"carry_over_slots_to_new_session": False}}
    _, events = await run("tracker_paused_expired_session.json", domain)

    assert not any(e["event"] == "slot" for e in events)
