"""Two of everything on real servers: PostgreSQL (Rasa's tracker store and the handoff
database), Redis (Rasa's lock store, rate limits) and RabbitMQ (Rasa's event broker; a second
round uses Rasa's SQL event broker on PostgreSQL instead), from Debian's packages
(scripts/servers.py installs and starts them), with two Rasa servers, two action servers and
two handoff services, and a mock of Slack's Web API.

One conversation's messages go alternately to both Rasa servers; it is handed off, an agent
claims it through one handoff service and replies through the other; the customer writes
while a person owns the chat. Nothing is lost, duplicated or reordered, and Slack gets one
packet. Then both handoff services go down, the next conversation asks for a person, and
the handoff reaches Slack once one of them is back (Rasa's event broker kept the request)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handoff.db import Database
from handoff.ledger import ledger_rows
from handoff.service import AI_BACK_NOTICE, QUEUED_NOTICE
from scripts.servers import LocalServers, ServersError
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

pytestmark = [pytest.mark.stack, pytest.mark.servers]


@pytest.fixture(scope="module")
def servers() -> Iterator[LocalServers]:
    with tempfile.TemporaryDirectory(prefix="parley-servers-") as tmp:
        local = LocalServers(Path(tmp), postgres=True, redis=True, rabbitmq=True)
        try:
            local.start()
        except ServersError as exc:
            local.stop()
            if os.environ.get("CI"):
                raise  # the test command installs them: in CI this must not be skipped
            pytest.skip(f"PostgreSQL, Redis or RabbitMQ unavailable: {exc}")
        try:
            yield local
        finally:
            local.stop()


@dataclass
class Replicas:
    stack: RunningStack
    slack: MockSlack
    database_url: str


@pytest.fixture(scope="module", params=["rabbitmq", "sql-broker"])
def replicas(request: pytest.FixtureRequest, servers: LocalServers) -> Iterator[Replicas]:
    """Everything twice, following Rasa's events through RabbitMQ, or through Rasa's SQL
    event broker on PostgreSQL (its own `<name>_events` database)."""
    database_url = servers.create_database()
    env = {
        "PARLEY_DATABASE_URL": database_url,
        "REDIS_URL": servers.redis_url,
        "SLACK_BOT_TOKEN": "xoxb-replicas",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_HANDOFF_CHANNEL": CHANNEL,
        "HANDOFF_POLL_SECONDS": "0.05",
        "KNOWLEDGE_PRELOAD": "0",
    }
    if request.param == "rabbitmq":
        env["RABBITMQ_URL"] = servers.amqp_url
    else:
        servers.create_database(database_url.rsplit("/", 1)[1] + "_events")
    with MockSlack() as slack:
        env["SLACK_API_URL"] = slack.base_url
        with start_stack(extra_env=env, replicas=2) as running:
            yield Replicas(running, slack, database_url)


def wait(predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    return wait_for(predicate, timeout, interval=0.05)


def texts(tracker: dict[str, Any], kind: str) -> list[str]:
    return [e.get("text") or "" for e in tracker["events"] if e["event"] == kind]


def customer_lines(slack: MockSlack, ts: str) -> list[str]:
    return [m["text"] for m in slack.thread(CHANNEL, ts) if m["text"].startswith("*Customer:*")]


def packets_for(slack: MockSlack, customer_text: str) -> list[dict[str, Any]]:
    return [m for m in slack.top_level(CHANNEL) if customer_text in json.dumps(m["blocks"])]


def test_one_conversation_across_two_of_everything(replicas: Replicas) -> None:
    stack, slack = replicas.stack, replicas.slack
    rasa = stack.urls("rasa")
    handoffs = stack.urls("handoff")
    assert len(rasa) == 2 and len(handoffs) == 2
    customer = f"replica-{int(time.time() * 1000)}"
    meta = {"name": "Maria Silva", "email": "maria@example.com"}

    def send(i: int, text: str) -> list[dict[str, Any]]:
        return stack.send(customer, text, metadata=meta, rasa_url=rasa[i % 2])

    # Alternately to both Rasa servers: both see one conversation (Postgres tracker store,
    # Redis lock store).
    assert send(0, "hi")
    assert send(1, "are you a bot?")
    ask = "I want to talk to a human"
    assert QUEUED_NOTICE in [r.get("text") for r in send(0, ask)]
    for url in rasa:
        assert stack.send(customer, "hello? anyone there?", rasa_url=url) == []

    packet = wait(lambda: packets_for(slack, ask) or None)[-1]
    handoff_id = next(
        e["value"] for b in packet["blocks"] if b["type"] == "actions" for e in b["elements"]
    )
    # Claimed through one handoff service, replied to through the other.
    assert interaction(handoffs[0], button("U_ANA", "handoff_claim", handoff_id, packet["ts"]))
    joined = "Ana from support (human) joined the chat."
    wait(lambda: joined in texts(stack.tracker(customer), "bot"))
    replies = [f"Agent line {n}" for n in range(3)]
    for n, reply in enumerate(replies):
        event(
            handoffs[n % 2],
            {
                "type": "message",
                "channel": CHANNEL,
                "user": "U_ANA",
                "text": reply,
                "ts": f"{time.time():.6f}",
                "thread_ts": packet["ts"],
            },
        )
        wait(lambda r=reply: r in texts(stack.tracker(customer), "bot"))
    said = [f"customer line {n}" for n in range(4)]
    for n, line in enumerate(said):
        assert send(n, line) == []

    wanted = ["hello? anyone there?"] * 2 + said
    wait(lambda: len(customer_lines(slack, packet["ts"])) >= len(wanted))
    time.sleep(1.0)  # anything duplicated would arrive by now
    assert customer_lines(slack, packet["ts"]) == [f"*Customer:* {t}" for t in wanted]

    tracker = stack.tracker(customer)
    assert texts(tracker, "user") == ["hi", "are you a bot?", ask, *wanted]
    bot = texts(tracker, "bot")
    assert [t for t in bot if t.startswith("Agent line")] == replies  # once each, in order
    assert bot.count(joined) == 1
    ids = [(e["event"], e.get("timestamp")) for e in tracker["events"]]
    assert len(ids) == len(set(ids)), "an event was stored twice"
    assert [e["timestamp"] for e in tracker["events"]] == sorted(
        e["timestamp"] for e in tracker["events"]
    )
    assert len(packets_for(slack, ask)) == 1

    # Resolve through the second service; the bot is back on both Rasa servers.
    interaction(handoffs[1], button("U_ANA", "handoff_resolve", handoff_id, packet["ts"]))
    wait(lambda: slack.views)
    resolved = resolve_submission("U_ANA", int(handoff_id), "resolved", note="done")
    assert interaction(handoffs[1], resolved).status_code == 200
    wait(lambda: AI_BACK_NOTICE in texts(stack.tracker(customer), "bot"))
    assert send(1, "hi") and send(0, "hi")
    db = Database(replicas.database_url)
    try:
        row = wait(
            lambda: next((r for r in ledger_rows(db) if r["conversation_id"] == customer), None)
        )
    finally:
        db.dispose()
    assert row["outcome"] == "resolved_by_human" and row["agent"] == "Ana"


def test_a_handoff_asked_for_while_the_service_is_down_arrives_when_it_is_back(
    replicas: Replicas,
) -> None:
    stack, slack = replicas.stack, replicas.slack
    customer = f"replica-down-{int(time.time() * 1000)}"
    ask = "please get me a real person"
    for name in ("handoff", "handoff-2"):
        stack.stack.stop_service(name)
    try:
        assert stack.send(customer, "hi")
        replies = stack.send(customer, ask, rasa_url=stack.urls("rasa")[1])
        # The customer is told a person is coming, and the bot keeps quiet.
        assert QUEUED_NOTICE in [r.get("text") for r in replies]
        assert stack.send(customer, "still there?") == []
        time.sleep(1.0)
        assert packets_for(slack, ask) == []
    finally:
        stack.stack.start_service("handoff-2")
    packet = wait(lambda: packets_for(slack, ask) or None, timeout=60)[-1]
    wait(lambda: customer_lines(slack, packet["ts"]) == ["*Customer:* still there?"])
    stack.stack.start_service("handoff")
    time.sleep(2.0)  # the other replica is back too: it must not post the packet again
    assert len(packets_for(slack, ask)) == 1
