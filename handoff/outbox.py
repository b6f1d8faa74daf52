"""The persistent outbox worker: delivers each item in order per handoff and target,
retrying with exponential backoff (or the server's Retry-After) until it lands.

Delivery is at-least-once towards Slack and Rasa, made effectively once by idempotent
receivers: every message carries its item's key (Slack message metadata, Rasa event
metadata), and any attempt whose outcome is unknown (a timeout, a 5xx, or a process that
died between the send and recording it) is followed by a look for that key before sending
again."""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import timedelta
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from handoff.db import Database, rowcount
from handoff.models import Handoff, OutboxItem, utcnow
from handoff.rasa_client import DeliveryError, RasaClient

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
TARGETS = ("slack", "rasa")
# Written when an attempt starts and replaced by its outcome: found on an item after a
# crash, it makes the next attempt check the receiver before sending again.
IN_FLIGHT = "ambiguous: an attempt started and its outcome was never recorded"


def record_outcome(
    session: Session, row: OutboxItem, status: str, result: dict, last_error: str | None
) -> None:
    """Record a delivered item; a posted packet's ts and channel go on its handoff, which
    lets its thread and updates follow. Also used when a packet whose post had an unknown
    outcome is found in Slack outside the worker (an agent replied in its thread)."""
    row.status = status
    row.result = result
    row.sent_at = utcnow()
    row.lease_until = None
    # The last real failure stays for the record; an in-flight mark is not one.
    row.last_error = None if last_error == IN_FLIGHT else last_error
    if row.op == "post_packet" and result.get("ts"):
        h = session.get(Handoff, row.handoff_id)
        if h is not None:
            h.slack_ts = str(result["ts"])
            h.slack_channel = str(result.get("channel") or h.slack_channel or "")


class SlackDeliverer(Protocol):
    def deliver(self, item: OutboxItem, handoff: Handoff, check_first: bool) -> dict: ...


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        rasa: RasaClient | None,
        slack: SlackDeliverer | None,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        poll_seconds: float = 0.5,
    ) -> None:
        self.db = db
        self.rasa = rasa
        self.slack = slack
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll_seconds = poll_seconds
        # One thread per target: a slow Slack call never holds up a reply to the customer.
        self._wakes = {target: threading.Event() for target in TARGETS}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- scheduling -----------------------------------------------------------------
    def wake(self) -> None:
        for event in self._wakes.values():
            event.set()

    def start(self) -> None:
        self._threads = [
            threading.Thread(
                target=self._loop, args=(target,), name=f"outbox-{target}", daemon=True
            )
            for target in TARGETS
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout=10)

    def _loop(self, target: str) -> None:
        wake = self._wakes[target]
        while not self._stop.is_set():
            wake.clear()
            try:
                while self.run_once((target,)):
                    pass
            except Exception:  # noqa: BLE001 - the worker must survive anything
                log.exception("outbox worker error (%s)", target)
            wake.wait(self.poll_seconds)

    # -- delivery -------------------------------------------------------------------
    def _lease(self, item_id: int) -> bool:
        now = utcnow()
        with self.db.session() as session:
            return bool(
                rowcount(
                    session.execute(
                        update(OutboxItem)
                        .where(
                            OutboxItem.id == item_id,
                            OutboxItem.status == "pending",
                            or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now),
                        )
                        .values(lease_until=now + LEASE, last_error=IN_FLIGHT)
                    )
                )
            )

    def run_once(self, targets: tuple[str, ...] = TARGETS) -> int:
        """Deliver every due item once; returns how many were delivered."""
        now = utcnow()
        with self.db.session() as session:
            items = session.scalars(
                select(OutboxItem)
                .where(OutboxItem.status == "pending", OutboxItem.target.in_(targets))
                .order_by(OutboxItem.id)
                .limit(500)
            ).all()
        blocked: set[tuple[int, str]] = set()
        delivered = 0
        for item in items:
            group = (item.handoff_id, item.target)
            if group in blocked:
                continue
            if item.next_attempt_at > now or (item.lease_until and item.lease_until > now):
                blocked.add(group)  # keep per-handoff order: nothing overtakes a waiting item
                continue
            if not self._lease(item.id):
                blocked.add(group)
                continue
            if self._deliver(item):
                delivered += 1
            else:
                blocked.add(group)
        return delivered

    def _deliver(self, item: OutboxItem) -> bool:
        with self.db.session() as session:
            handoff = session.get(Handoff, item.handoff_id)
        # `item` was read before the lease: its last_error is the previous attempt's outcome.
        check_first = (item.last_error or "").startswith("ambiguous")
        started = time.perf_counter()
        try:
            if item.target == "slack":
                if self.slack is None:
                    self._finish(item, "skipped", {})
                    return True
                if handoff is None:
                    raise DeliveryError("handoff missing", permanent=True)
                result = self.slack.deliver(item, handoff, check_first)
            elif item.target == "rasa":
                if self.rasa is None:
                    raise DeliveryError("Rasa is not configured")
                p = item.payload
                if check_first and self.rasa.already_delivered(p["sender_id"], item.key):
                    result = {"found": True}
                else:
                    self.rasa.send_bot_message(
                        p["sender_id"],
                        p["text"],
                        item.key,
                        agent=p.get("agent"),
                        resume=bool(p.get("resume")),
                        notice=p.get("notice"),
                    )
                    result = {}
            else:
                raise DeliveryError(f"unknown target {item.target}", permanent=True)
        except DeliveryError as exc:
            self._failed(item, exc)
            return False
        except Exception as exc:  # noqa: BLE001
            self._failed(item, DeliveryError(str(exc)))
            return False
        # How long the receiving end took: kept with the item for operations and the bench.
        result = {**result, "took_ms": round((time.perf_counter() - started) * 1000, 1)}
        self._finish(item, "sent", result)
        return True

    def _finish(self, item: OutboxItem, status: str, result: dict) -> None:
        with self.db.session() as session:
            row = session.get(OutboxItem, item.id)
            assert row is not None
            row.attempts += 1
            # `item.last_error` is the previous attempt's outcome (read before the lease).
            record_outcome(session, row, status, result, item.last_error)

    def _failed(self, item: OutboxItem, exc: DeliveryError) -> None:
        with self.db.session() as session:
            row = session.get(OutboxItem, item.id)
            assert row is not None
            row.attempts += 1
            row.lease_until = None
            prefix = "ambiguous: " if exc.ambiguous else ""
            row.last_error = (prefix + str(exc))[:1000]
            if exc.permanent:
                row.status = "failed"
                log.error("outbox item %s (%s) failed permanently: %s", row.key, row.op, exc)
                if row.op == "post_packet":
                    log.critical(
                        "ALERT: handoff #%s never reached Slack (%s); work it with "
                        "`python -m handoff console`, then `python -m handoff outbox "
                        "--retry-failed` once Slack accepts posts again.",
                        row.handoff_id,
                        exc,
                    )
                return
            if exc.retry_after is not None:
                delay = exc.retry_after
            else:
                delay = min(self.max_delay, self.base_delay * 2 ** min(row.attempts - 1, 16))
                delay *= 0.75 + random.random() / 2  # jitter so retries do not stampede
            row.next_attempt_at = utcnow() + timedelta(seconds=delay)
            log.warning(
                "outbox item %s (%s) attempt %d failed: %s; retry in %.1fs",
                row.key,
                row.op,
                row.attempts,
                exc,
                delay,
            )
