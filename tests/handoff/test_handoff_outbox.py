from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from handoff.models import Handoff, OutboxItem, utcnow
from handoff.outbox import OutboxWorker
from handoff.rasa_client import DeliveryError
from handoff.service import HandoffService
from tests.handoff.samples import sample_packet


class FakeSlack:
    def __init__(self, failures: list[DeliveryError]) -> None:
        self.failures = failures
        self.delivered: list[tuple[str, str]] = []

    def deliver(self, item, handoff, check_first):  # type: ignore[no-untyped-def]
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append((item.op, item.key))
        return {"ts": "100.000001", "channel": "C_HANDOFF"} if item.op == "post_packet" else {}


def make_due(service: HandoffService) -> None:
    with service.db.session() as s:
        s.execute(update(OutboxItem).values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def test_retries_honour_retry_after_and_deliver_once(service: HandoffService) -> None:
    hid = service.open_handoff("c1", sample_packet()).handoff_id
    slack = FakeSlack([DeliveryError("503", ambiguous=True), DeliveryError("429", retry_after=30)])
    worker = OutboxWorker(service.db, rasa=None, slack=slack, base_delay=0.01)
    assert worker.run_once(targets=("slack",)) == 0
    make_due(service)
    assert worker.run_once(targets=("slack",)) == 0
    with service.db.session() as s:
        item = s.scalar(select(OutboxItem).where(OutboxItem.op == "post_packet"))
        assert item.attempts == 2 and item.last_error == "429"
        wait = (item.next_attempt_at - utcnow()).total_seconds()
        assert 25 < wait <= 30
    # Not due yet: nothing is sent early.
    assert worker.run_once(targets=("slack",)) == 0
    make_due(service)
    assert worker.run_once(targets=("slack",)) == 1
    assert worker.run_once(targets=("slack",)) == 0
    assert slack.delivered == [("post_packet", f"h{hid}:packet")]
    with service.db.session() as s:
        assert s.get(Handoff, hid).slack_ts == "100.000001"


def test_order_is_kept_per_handoff(service: HandoffService) -> None:
    hid = service.open_handoff("c2", sample_packet()).handoff_id
    service.customer_message("c2", "one", 200.0, "e1")
    service.customer_message("c2", "two", 201.0, "e2")
    slack = FakeSlack([DeliveryError("down")])
    worker = OutboxWorker(service.db, rasa=None, slack=slack, base_delay=0.01)
    worker.run_once(targets=("slack",))
    assert slack.delivered == []  # the thread waits for its packet
    make_due(service)
    assert worker.run_once(targets=("slack",)) == 3
    assert [k for _, k in slack.delivered] == [f"h{hid}:packet", "slack:e1", "slack:e2"]


def test_permanent_error_stops_retrying(service: HandoffService) -> None:
    service.open_handoff("c3", sample_packet())
    slack = FakeSlack([DeliveryError("invalid_blocks", permanent=True)])
    worker = OutboxWorker(service.db, rasa=None, slack=slack)
    worker.run_once(targets=("slack",))
    with service.db.session() as s:
        assert s.scalar(select(OutboxItem.status)) == "failed"


def test_console_mode_skips_slack(service: HandoffService) -> None:
    service.open_handoff("c4", sample_packet())
    worker = OutboxWorker(service.db, rasa=None, slack=None)
    assert worker.run_once(targets=("slack",)) == 1
    with service.db.session() as s:
        assert s.scalar(select(OutboxItem.status)) == "skipped"
