"""Tail Rasa's event log: customer messages written while the bot is paused reach the
Slack thread, and every event keeps the ledger's timestamps current.

Rasa appends every conversation event to a table `events(id, sender_id, data)`: its SQL
event broker (endpoints.yml `event_broker: type: SQL`) and its SQL tracker store both
have that shape, so either can be tailed. The read position is stored in the handoff
database, so a restart resumes where it stopped; message keys make a replay harmless."""

from __future__ import annotations

import json
import logging
import threading

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from handoff.db import Database, make_engine
from handoff.models import Cursor
from handoff.service import HandoffService

log = logging.getLogger(__name__)

CURSOR_NAME = "rasa_event_broker"

_meta = MetaData()
broker_events = Table(
    "events",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("data", Text),
)


class RasaEventTail:
    def __init__(
        self, events_db_url: str, db: Database, service: HandoffService, poll_seconds: float = 0.2
    ) -> None:
        self.engine = make_engine(events_db_url, wal=False)
        self.db = db
        self.service = service
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._table_seen = False
        self._position_cache: int | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rasa-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.engine.dispose()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.poll_once() and not self._stop.is_set():
                    pass
            except SQLAlchemyError as exc:
                log.warning("reading Rasa's event table failed (will retry): %s", exc)
            except Exception:  # noqa: BLE001 - the tailer must survive anything
                log.exception("event tail error")
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
        """Process the next batch of events; returns how many were read."""
        if not self._table_seen:
            if not inspect(self.engine).has_table("events"):
                return 0  # Rasa has not written anything yet
            self._table_seen = True
        position = self._position()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(broker_events.c.id, broker_events.c.sender_id, broker_events.c.data)
                .where(broker_events.c.id > position)
                .order_by(broker_events.c.id)
                .limit(batch)
            ).all()
        for row_id, sender_id, data in rows:
            try:
                event = json.loads(data)
            except (TypeError, ValueError):
                log.warning("skipping unreadable broker event %s", row_id)
                continue
            event.setdefault("sender_id", sender_id)
            self.handle(event)
        if rows:
            self._save(rows[-1][0])
        return len(rows)

    def handle(self, event: dict) -> None:
        self.service.note_rasa_event(event)
        if event.get("event") == "user" and event.get("text"):
            sender = str(event["sender_id"])
            ts = float(event.get("timestamp") or 0.0)
            self.service.customer_message(sender, str(event["text"]), ts, f"rasa:{sender}:{ts!r}")
