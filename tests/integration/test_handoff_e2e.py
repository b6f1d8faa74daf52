"""The whole handoff loop through the real Rasa and action servers, the handoff service
and a local mock of Slack's Web API:

customer asks for a person over REST -> packet in Slack with transcript and sources ->
Claim -> agent thread reply reaches the customer's tracker -> customer reply reaches the
thread -> Resolve -> the bot is back and the ledger row has every timestamp."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from handoff.db import Database
from handoff.ledger import ledger_rows
from handoff.service import AI_BACK_NOTICE, QUEUED_NOTICE
from tests.handoff.mock_web_api_server import MockSlack
from tests.handoff.polling import wait_for
from tests.handoff.slack_helpers import (
    CHANNEL,
    SIGNING_SECRET,
    button,
    event,
    interaction,
    resolve_submission,
)
from tests.integration.stack import RunningStack, start_stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def slack() -> Iterator[MockSlack]:
    with MockSlack() as mock:
        yield mock


@pytest.fixture(scope="module")
def handoff_stack(slack: MockSlack) -> Iterator[RunningStack]:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-e2e",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "SLACK_HANDOFF_CHANNEL": CHANNEL,
        "HANDOFF_POLL_SECONDS": "0.05",
        # Load the knowledge model on first use, not while the action server starts
        # (a slow start on a busy machine trips Sanic's 30 s worker start-up limit).
        "KNOWLEDGE_PRELOAD": "0",
    }
    with start_stack(extra_env=env) as running:
        yield running


def bot_texts(tracker: dict) -> list[str]:
    return [e.get("text") or "" for e in tracker["events"] if e["event"] == "bot"]


def kb_sources_of(stack: RunningStack, sender: str) -> list[dict]:
    slots = [
        e
        for e in stack.tracker(sender)["events"]
        if e["event"] == "slot" and e.get("name") == "kb_sources" and e.get("value")
    ]
    return slots[-1]["value"] if slots else []


def wait(predicate, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    return wait_for(predicate, timeout, interval=0.05)


def test_handoff_round_trip(handoff_stack: RunningStack, slack: MockSlack) -> None:
    stack = handoff_stack
    handoff_url = stack.stack.settings.handoff_url
    customer = f"e2e-{int(time.time() * 1000)}"
    meta = {
        "name": "Maria Silva",
        "email": "maria@example.com",
        "page_url": "https://shop.example/orders/1234",
        "locale": "en-GB",
    }

    question = "how long does shipping to germany take?"
    # The knowledge model loads on first use: wait (with another customer) until it answers.
    attempts = iter(range(1000))

    def knowledge_ready() -> list[dict]:
        warmup = f"{customer}-warmup-{next(attempts)}"  # fresh each time: no repeats
        stack.send(warmup, question)
        return kb_sources_of(stack, warmup)

    wait(knowledge_ready, timeout=180)

    stack.send(customer, "hi", metadata=meta)
    stack.send(customer, question, metadata=meta)
    replies = stack.send(customer, "I want to talk to a human", metadata=meta)
    assert QUEUED_NOTICE in [r.get("text") for r in replies]
    assert stack.tracker(customer)["paused"] is True

    # The packet: customer, transcript, sources.
    packet = wait(lambda: slack.top_level(CHANNEL))[-1]
    blocks = json.dumps(packet["blocks"])
    assert "Maria Silva" in blocks and "maria@example.com" in blocks
    assert "I want to talk to a human" in blocks
    assert "how long does shipping to germany take?" in blocks
    sources = kb_sources_of(stack, customer)
    assert sources, "the knowledge answerer should have set kb_sources"
    for source in sources:
        assert source["path"] in blocks
    handoff_id = next(
        e["value"] for b in packet["blocks"] if b["type"] == "actions" for e in b["elements"]
    )

    # While queued the bot says nothing, whatever the customer writes.
    assert stack.send(customer, "hello? anyone there?") == []

    # Claim.
    r = interaction(handoff_url, button("U_ANA", "handoff_claim", handoff_id, packet["ts"]))
    assert r.status_code == 200
    wait(lambda: "Ana from support (human) joined the chat." in bot_texts(stack.tracker(customer)))

    # The agent's thread reply reaches the customer's conversation.
    event(
        handoff_url,
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "U_ANA",
            "text": "Hi Maria, I'm checking order *1234* now.",
            "ts": f"{time.time():.6f}",
            "thread_ts": packet["ts"],
        },
    )
    wait(lambda: "Hi Maria, I'm checking order **1234** now." in bot_texts(stack.tracker(customer)))

    # The customer's answer reaches the thread, in order, and the bot stays quiet.
    assert stack.send(customer, "thanks <!channel>, it was due Monday") == []
    thread = wait(
        lambda: (
            [
                m["text"]
                for m in slack.thread(CHANNEL, packet["ts"])
                if m["text"].startswith("*Customer:*")
            ]
            or None
        )
    )
    thread = wait(
        lambda: (
            len(
                customer_lines := [
                    m["text"]
                    for m in slack.thread(CHANNEL, packet["ts"])
                    if m["text"].startswith("*Customer:*")
                ]
            )
            >= 2
            and customer_lines
        )
    )
    assert thread == [
        "*Customer:* hello? anyone there?",
        "*Customer:* thanks &lt;!channel&gt;, it was due Monday",
    ]

    # Resolve and hand back.
    interaction(handoff_url, button("U_ANA", "handoff_resolve", handoff_id, packet["ts"]))
    wait(lambda: slack.views)
    r = interaction(
        handoff_url, resolve_submission("U_ANA", int(handoff_id), "resolved", note="reshipped")
    )
    assert r.status_code == 200
    wait(lambda: AI_BACK_NOTICE in bot_texts(stack.tracker(customer)))
    assert stack.tracker(customer)["paused"] is False
    assert stack.send(customer, "hi")  # the bot talks again

    db = Database(f"sqlite:///{stack.state_dir / 'handoff.db'}")
    try:
        row = wait(
            lambda: next((r for r in ledger_rows(db) if r["conversation_id"] == customer), None)
        )
    finally:
        db.dispose()
    assert row["outcome"] == "resolved_by_human"
    assert row["trigger"] == "explicit_request" and row["agent"] == "Ana"
    for field in (
        "started_at",
        "first_bot_response_at",
        "handoff_at",
        "claimed_at",
        "first_agent_reply_at",
        "resolved_at",
    ):
        assert row[field], field
    assert (
        row["started_at"]
        <= row["first_bot_response_at"]
        <= row["handoff_at"]
        <= row["claimed_at"]
        <= row["first_agent_reply_at"]
        <= row["resolved_at"]
    )
    assert len([m for m in slack.top_level(CHANNEL) if m["ts"] == packet["ts"]]) == 1


POLICY_ON = "HandoffTriggerPolicy" in (Path(__file__).parents[2] / "config.yml").read_text()


@pytest.mark.skipif(not POLICY_ON, reason="HandoffTriggerPolicy is not in config.yml")
def test_sensitive_topic_hands_off_without_being_asked(
    handoff_stack: RunningStack, slack: MockSlack
) -> None:
    customer = f"e2e-legal-{int(time.time() * 1000)}"
    replies = handoff_stack.send(customer, "I will take you to court and call my lawyer")
    assert any(QUEUED_NOTICE in (r.get("text") or "") for r in replies)
    assert handoff_stack.tracker(customer)["paused"] is True
    db = Database(f"sqlite:///{handoff_stack.state_dir / 'handoff.db'}")
    try:
        row = wait(
            lambda: next((r for r in ledger_rows(db) if r["conversation_id"] == customer), None)
        )
    finally:
        db.dispose()
    assert row["trigger"] == "sensitive_topic" and row["state"] == "queued"


@pytest.mark.skipif(not POLICY_ON, reason="HandoffTriggerPolicy is not in config.yml")
def test_two_unanswerable_questions_hand_off(handoff_stack: RunningStack) -> None:
    customer = f"e2e-abstain-{int(time.time() * 1000)}"
    handoff_stack.send(customer, "what's the weather like on mars tomorrow?")
    handoff_stack.send(customer, "who won the football world cup in 1954?")
    assert handoff_stack.tracker(customer)["paused"] is True
