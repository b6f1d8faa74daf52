"""At-least-once delivery with idempotent receivers: the process dies after Slack or Rasa
accepted a message and before the outbox recorded it; after a restart the message is found
by its key, not sent again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from handoff.models import Handoff, OutboxItem, utcnow
from handoff.outbox import OutboxWorker
from handoff.rasa_client import RasaClient
from handoff.service import HandoffService
from handoff.slack_delivery import META_EVENT, SlackDelivery, make_web_client
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.mock_web_api_server import MockSlack
from tests.handoff.samples import sample_packet

CHANNEL = "C_HANDOFF"


class ProcessKilled(BaseException):
    """Stands in for SIGKILL: nothing in the worker catches it, nothing is recorded."""


def worker(service: HandoffService, slack: MockSlack, rasa: FakeRasa) -> OutboxWorker:
    """A fresh worker, as a restarted process would build it."""
    client = make_web_client("xoxb-test", slack.base_url)
    return OutboxWorker(
        service.db, RasaClient(rasa.url, rasa.token), SlackDelivery(client, CHANNEL)
    )


def killed_after_sending(
    monkeypatch: pytest.MonkeyPatch, w: OutboxWorker, op: str, target: str
) -> None:
    """Run the worker and kill it right after the receiver accepted the first `op` item."""
    original = OutboxWorker._finish

    def finish(self: OutboxWorker, item: OutboxItem, status: str, result: dict) -> None:
        if item.op == op and item.target == target:
            raise ProcessKilled
        original(self, item, status, result)

    monkeypatch.setattr(OutboxWorker, "_finish", finish)
    with pytest.raises(ProcessKilled):
        w.run_once((target,))
    monkeypatch.setattr(OutboxWorker, "_finish", original)


def leases_run_out(service: HandoffService) -> None:
    with service.db.session() as s:
        s.execute(update(OutboxItem).values(lease_until=utcnow() - timedelta(seconds=1)))


def item(service: HandoffService, key: str) -> OutboxItem:
    with service.db.session() as s:
        row = s.scalar(select(OutboxItem).where(OutboxItem.key == key))
        assert row is not None
        return row


def keyed(messages: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [
        m
        for m in messages
        if (m.get("metadata") or {}).get("event_type") == META_EVENT
        and m["metadata"]["event_payload"]["key"] == key
    ]


def test_a_packet_posted_before_a_crash_is_not_posted_again(
    service: HandoffService, slack: MockSlack, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch
) -> None:
    hid = service.open_handoff("cust-crash", sample_packet()).handoff_id
    killed_after_sending(monkeypatch, worker(service, slack, rasa), "post_packet", "slack")
    assert len(slack.top_level(CHANNEL)) == 1
    assert item(service, f"h{hid}:packet").status == "pending"

    restarted = worker(service, slack, rasa)
    assert restarted.run_once(("slack",)) == 0  # the dead process's lease still holds
    leases_run_out(service)
    assert restarted.run_once(("slack",)) == 1
    [packet] = slack.top_level(CHANNEL)
    assert len(slack.calls("chat.postMessage")) == 1
    row = item(service, f"h{hid}:packet")
    assert row.status == "sent" and row.result and row.result["found"] is True
    with service.db.session() as s:
        assert s.get(Handoff, hid).slack_ts == packet["ts"]  # type: ignore[union-attr]


def test_a_thread_reply_and_a_customer_message_are_not_duplicated_after_a_crash(
    service: HandoffService, slack: MockSlack, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch
) -> None:
    hid = service.open_handoff("cust-crash2", sample_packet()).handoff_id
    worker(service, slack, rasa).run_once()
    service.claim(hid, "U_ANA", "Ana")
    service.customer_message("cust-crash2", "still there?", 200.0, "e1")

    # Killed after Slack took the first thread message, then after Rasa took the notice.
    killed_after_sending(monkeypatch, worker(service, slack, rasa), "post_thread", "slack")
    killed_after_sending(monkeypatch, worker(service, slack, rasa), "bot_message", "rasa")
    leases_run_out(service)
    restarted = worker(service, slack, rasa)
    while restarted.run_once():
        pass

    packet_ts = slack.top_level(CHANNEL)[0]["ts"]
    thread = slack.thread(CHANNEL, packet_ts)
    assert len(keyed(thread, f"h{hid}:claimed:thread")) == 1
    assert len(keyed(thread, "slack:e1")) == 1
    assert len(thread) == 2
    assert rasa.bot_texts("cust-crash2") == ["Ana from support (human) joined the chat."]
    with service.db.session() as s:
        statuses = set(s.scalars(select(OutboxItem.status)))
    assert statuses == {"sent"}
    assert item(service, f"h{hid}:claimed:customer").result["found"] is True  # type: ignore[index]


def test_an_attempt_in_flight_is_marked_so_a_restart_checks_first(
    service: HandoffService, slack: MockSlack, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch
) -> None:
    hid = service.open_handoff("cust-crash3", sample_packet()).handoff_id
    killed_after_sending(monkeypatch, worker(service, slack, rasa), "post_packet", "slack")
    assert (item(service, f"h{hid}:packet").last_error or "").startswith("ambiguous")
    # A delivery that completes leaves no mark behind.
    leases_run_out(service)
    worker(service, slack, rasa).run_once(("slack",))
    assert item(service, f"h{hid}:packet").last_error is None
