"""Follow conversations through Rasa's event broker: customer messages written while a person
owns the chat reach the Slack thread, handoffs the action server could not hand over by HTTP
are opened, and every event keeps the ledger's timestamps current.

Two brokers, as endpoints.yml configures Rasa (scripts/stack.py picks the file):
- Rasa's SQL event broker (the default): Rasa appends each event to the broker's own
  `events(id, sender_id, data)` table, in a database of its own (never the tracker store's).
  `SQLBrokerTail` reads it in id order and keeps its position in the handoff database.
- RabbitMQ (`RABBITMQ_URL`): Rasa's Pika broker publishes to its fanout exchange and to the
  durable queue `parley_handoff`, which `PikaConsumer` reads with manual acks.

Several handoff service replicas may run: exactly one follows the broker at a time (an
exclusive consumer on RabbitMQ, a PostgreSQL advisory lock for the SQL table); the others
wait and take over when it goes. Message keys make a replay harmless."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from handoff.db import Database, make_engine
from handoff.models import Cursor
from handoff.service import HandoffError, HandoffService

log = logging.getLogger(__name__)

CURSOR_NAME = "rasa_event_broker"
# The RabbitMQ queue Rasa publishes to for us (bot/endpoints-rabbitmq.yml lists it).
PIKA_QUEUE = "parley_handoff"
RASA_EXCHANGE = "rasa-exchange"
# The slot the handoff action sets with its request (actions/handoff.py).
HANDOFF_REQUEST_SLOT = "handoff_request"
# The slot action_answer_feedback sets with a verdict its call could not deliver.
FEEDBACK_SLOT = "answer_feedback"
# An id missing between two rows read is usually a transaction still committing (two Rasa
# servers write at once); after this long it is taken for a rolled-back one and skipped.
GAP_WAIT_SECONDS = 5.0
# Key of the advisory lock that elects the replica tailing the SQL broker table.
TAIL_LOCK_KEY = 0x5041524C  # "PARL"

_meta = MetaData()
broker_events = Table(
    "events",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("data", Text),
)


class EventHandler:
    """What the handoff service does with one of Rasa's events."""

    def __init__(self, service: HandoffService) -> None:
        self.service = service

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        sender = str(event.get("sender_id") or "")
        if not sender:
            return
        if kind == "slot" and event.get("name") == HANDOFF_REQUEST_SLOT:
            request = event.get("value")
            if isinstance(request, dict) and isinstance(request.get("packet"), dict):
                self.service.open_requested(sender, request)
            return
        if kind == "slot" and event.get("name") == FEEDBACK_SLOT:
            verdict = event.get("value")
            if isinstance(verdict, dict):
                try:
                    self.service.record_feedback_from(sender, verdict)
                except HandoffError as exc:  # a malformed slot: say so, follow the rest
                    log.warning("answer feedback for %s not stored: %s", sender, exc)
            return
        self.service.note_rasa_event(event)
        if kind == "user" and event.get("text"):
            ts = float(event.get("timestamp") or 0.0)
            self.service.customer_message(sender, str(event["text"]), ts, f"rasa:{sender}:{ts!r}")


class _Follower(ABC):
    """A background thread that follows the broker until stopped."""

    name = "rasa-events"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release what the follower holds (connections, a lock), after its thread stopped."""

    @abstractmethod
    def _loop(self) -> None:
        """Follow the broker until `self._stop` is set."""


class SQLBrokerTail(_Follower):
    """Reads Rasa's SQL event broker table in id order, from where it stopped."""

    def __init__(
        self,
        events_db_url: str,
        db: Database,
        handle: Callable[[dict[str, Any]], None],
        poll_seconds: float = 0.2,
        gap_wait_seconds: float = GAP_WAIT_SECONDS,
    ) -> None:
        super().__init__()
        self.engine = make_engine(events_db_url, wal=False)
        self.db = db
        self.handle = handle
        self.poll_seconds = poll_seconds
        self.gap_wait_seconds = gap_wait_seconds
        self._table_seen = False
        self._position_cache: int | None = None
        self._gap_since: float | None = None
        self._leader = _AdvisoryLock(db.engine, TAIL_LOCK_KEY)

    def close(self) -> None:
        self._leader.release()
        self.engine.dispose()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._leader.acquire():
                    while self.poll_once() and not self._stop.is_set():
                        pass
            except SQLAlchemyError as exc:
                log.warning("reading Rasa's event broker table failed (will retry): %s", exc)
                self._leader.release()
            except Exception:  # noqa: BLE001 - the tailer must survive anything
                log.exception("event broker tail error")
            self._stop.wait(self.poll_seconds)

    def _position(self) -> int:
        if self._position_cache is None:
            with self.db.session() as session:
                cursor = session.get(Cursor, CURSOR_NAME)
                self._position_cache = cursor.position if cursor else 0
        return self._position_cache

    def _save(self, position: int) -> None:
        with self.db.session() as session:
            cursor = session.get(Cursor, CURSOR_NAME)
            if cursor is None:
                session.add(Cursor(name=CURSOR_NAME, position=position))
            else:
                cursor.position = position
        self._position_cache = position

    def poll_once(self, batch: int = 200) -> int:
        """Handle the next events in order; returns how many were handled."""
        if not self._table_seen:
            if not inspect(self.engine).has_table("events"):
                return 0  # Rasa has not published anything yet
            self._table_seen = True
        position = self._position()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(broker_events.c.id, broker_events.c.sender_id, broker_events.c.data)
                .where(broker_events.c.id > position)
                .order_by(broker_events.c.id)
                .limit(batch)
            ).all()
        handled = 0
        for row_id, sender_id, data in rows:
            if row_id != position + 1 and not self._gap_expired():
                break  # an earlier event may still be committing: wait for it
            self._gap_since = None
            try:
                event = json.loads(data)
            except (TypeError, ValueError):
                log.warning("skipping unreadable broker event %s", row_id)
                event = None
            if isinstance(event, dict):
                event.setdefault("sender_id", sender_id)
                self.handle(event)
            position = row_id
            handled += 1
        if handled:
            self._save(position)
        return handled

    def _gap_expired(self) -> bool:
        now = time.monotonic()
        if self._gap_since is None:
            self._gap_since = now
        return now - self._gap_since >= self.gap_wait_seconds


class _AdvisoryLock:
    """Leadership among replicas sharing a PostgreSQL handoff database: a session-level
    advisory lock held on a connection of its own, released when that connection ends (so
    a crashed replica's lock goes with it). On SQLite only one replica can run: always held."""

    def __init__(self, engine: Engine, key: int) -> None:
        self.engine = engine
        self.key = key
        self._conn: Any = None

    def acquire(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                self.release()
        conn = self.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
        conn.commit()
        if got:
            self._conn = conn
            log.info("this replica now follows Rasa's event broker")
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None


class PikaConsumer(_Follower):
    """Reads the `parley_handoff` queue Rasa's Pika broker fills, acking after each event."""

    def __init__(
        self,
        amqp_url: str,
        handle: Callable[[dict[str, Any]], None],
        queue: str = PIKA_QUEUE,
        retry_seconds: float = 2.0,
    ) -> None:
        super().__init__()
        self.amqp_url = amqp_url
        self.handle = handle
        self.queue = queue
        self.retry_seconds = retry_seconds
        self.consuming = threading.Event()  # set while this replica is the consumer

    def _loop(self) -> None:
        import pika
        from pika.exceptions import AMQPError

        # pika logs every refused connection as an error; retrying is normal here (RabbitMQ
        # restarting, another replica holding the queue): this loop says what matters.
        logging.getLogger("pika").setLevel(logging.CRITICAL)

        while not self._stop.is_set():
            connection = None
            try:
                connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
                channel = connection.channel()
                # The same declarations Rasa makes (aio-pika's: a fanout exchange that is
                # not durable, a durable queue), so either may start first.
                channel.exchange_declare(RASA_EXCHANGE, exchange_type="fanout")
                channel.queue_declare(self.queue, durable=True)
                channel.queue_bind(self.queue, RASA_EXCHANGE)
                channel.basic_qos(prefetch_count=100)
                # Exclusive: one replica reads at a time, so events stay in order; the
                # others are refused and try again until it goes away.
                channel.basic_consume(self.queue, self._on_message, exclusive=True)
                self.consuming.set()
                log.info("this replica now follows Rasa's event broker (RabbitMQ)")
                while not self._stop.is_set():
                    connection.process_data_events(time_limit=0.5)
            except AMQPError as exc:
                if self.consuming.is_set():
                    log.warning("lost RabbitMQ (%r); reconnecting", exc)
                else:
                    log.debug("RabbitMQ: %r (will retry)", exc)
            except Exception:  # noqa: BLE001 - the consumer must survive anything
                log.exception("event broker consumer error")
            finally:
                self.consuming.clear()
                if connection is not None and connection.is_open:
                    with contextlib.suppress(Exception):
                        connection.close()
            self._stop.wait(self.retry_seconds)

    def close(self) -> None:
        pass  # the connection is closed by the loop that opened it

    def _on_message(self, channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        try:
            event = json.loads(body)
        except ValueError:
            log.warning("skipping unreadable broker message")
            event = None
        if isinstance(event, dict):
            self.handle(event)  # an exception here leaves the message unacked: redelivered
        channel.basic_ack(method.delivery_tag)


def follower_for(
    broker_url: str, db: Database, service: HandoffService, poll_seconds: float = 0.2
) -> _Follower | None:
    """The follower for `broker_url`: amqp(s):// for RabbitMQ, a database URL for the SQL
    broker's table, empty for none."""
    if not broker_url:
        return None
    handle = EventHandler(service)
    if broker_url.startswith(("amqp://", "amqps://")):
        return PikaConsumer(broker_url, handle)
    return SQLBrokerTail(broker_url, db, handle, poll_seconds=poll_seconds)
