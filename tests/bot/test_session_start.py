"""The session start Rasa runs itself (bot/session_start.py), in Rasa's own venv: the AI
disclosure in the widget's language, a paused chat kept paused and silent, slots carried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from parley_shared.phrases import phrase

from tests.rasa_probe import needs_rasa, run_probe

pytestmark = needs_rasa


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    return run_probe(Path(__file__).with_name("rasa_session_start_probe.py"), timeout=300)


def kinds(case: dict[str, Any]) -> list[str]:
    return [event["event"] for event in case["events"]]


def slots(case: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in case["events"] if e["event"] == "slot"}


def said(case: dict[str, Any]) -> list[str]:
    return [e["text"] for e in case["events"] if e["event"] == "bot"]


def test_rasa_runs_ours_in_place_of_its_own(probe: dict[str, Any]) -> None:
    # Before the channels install it, Rasa's own; domain.yml must not make it a remote one.
    assert probe["before_install"] == "ActionSessionStart"
    assert {probe[case]["action"] for case in probe if case != "before_install"} == {
        "DisclosingSessionStart"
    }


def test_a_new_conversation_opens_with_the_ai_disclosure(probe: dict[str, Any]) -> None:
    first = probe["first_message"]
    assert said(first) == [phrase("disclosure", "en")]
    assert "AI assistant" in said(first)[0] and "person" in said(first)[0]
    assert kinds(first)[0] == "session_started"
    assert first["events"][-1] == {
        **first["events"][-1],
        "event": "action",
        "name": "action_listen",
    }
    assert "pause" not in kinds(first)
    timestamps = [event["timestamp"] for event in first["events"]]
    assert timestamps == sorted(timestamps)


def test_the_session_keeps_the_customer_metadata(probe: dict[str, Any]) -> None:
    meta = slots(probe["first_message"])["session_started_metadata"]
    assert meta["page_url"] == "https://shop.example/help"
    # Not carrying slots over still keeps the new session's own metadata.
    assert slots(probe["no_carry_over"])["session_started_metadata"] == meta


def test_a_german_widget_gets_the_disclosure_in_german(probe: dict[str, Any]) -> None:
    german = probe["german_widget"]
    assert slots(german)["language"] == "de"
    assert said(german) == [phrase("disclosure", "de")]
    assert said(german) != said(probe["first_message"])


def test_an_expired_session_of_a_paused_chat_stays_paused_and_silent(
    probe: dict[str, Any],
) -> None:
    paused = probe["paused_expired"]
    assert said(paused) == []
    # The pause comes after session_started, which resets the tracker.
    assert kinds(paused).index("pause") > kinds(paused).index("session_started")
    assert slots(paused)["kb_answer_type"] == "abstain"
