"""Rasa's SQL tracker store and SQL event broker, with one round trip per turn instead of many.

Rasa 3.6's `SQLTrackerStore.save` first calls `stream_events`, which reads the whole
conversation back from the database (and rebuilds every event) only to learn which events are
new, then counts the stored events again to insert the same ones. Its `SQLEventBroker` commits
each event in a transaction of its own: a turn of seven events is seven commits. The profile of
a busy Rasa server (bench/results/scale.md) put about a fifth of its CPU time there.

`TurnSQLTrackerStore` counts the stored events once (not at all for a tracker it read:
`retrieve` notes how many it loaded), publishes the new ones and stores them in one INSERT;
`TurnSQLEventBroker` writes a turn's events in one transaction and one INSERT, in order.
Tables, rows and what the broker's readers see are Rasa's own, so `handoff/event_broker.py`
and Rasa's tools read them unchanged. Both are named in `endpoints.yml`
(`type: bot.event_store...`).
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)


class TurnSQLEventBroker(SQLEventBroker):
    """Rasa's SQL event broker; `publish_turn` writes several events in one transaction."""

    def publish_turn(self, events: list[dict[str, Any]]) -> None:
        """Append `events` in order, all or none."""
        if not events:
            return
        rows = [
            {"sender_id": event.get("sender_id"), "data": json.dumps(event)} for event in events
        ]
        with self.session_scope() as session:
            # One multi-row insert (SQLAlchemy Core): the ORM's unit of work cost more than
            # the database did.
            session.execute(self.SQLBrokerEvent.__table__.insert(), rows)
            session.commit()


def publish_turn(broker: EventBroker, events: list[dict[str, Any]]) -> None:
    """One transaction where the broker offers it (`TurnSQLEventBroker`), else one call each
    (RabbitMQ: Rasa's Pika broker sends each event as a message of its own anyway)."""
    if isinstance(broker, TurnSQLEventBroker):
        broker.publish_turn(events)
    else:
        for event in events:
            broker.publish(event)


# How many of a tracker's events the store holds, set on trackers this store read or saved.
_STORED = "_parley_stored_events"


class TurnSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store; `save` finds the new events once and publishes and stores them.

    The new events are the tracker's events past those stored for its latest session, exactly
    what Rasa's `stream_events` and `_additional_events` each work out on their own. A tracker
    this store read (`retrieve`: the latest session) or saved carries that number with it, so
    its next save needs no query to count them; Rasa's lock store keeps any other writer of the
    conversation out meanwhile, the same assumption Rasa's count makes. Other trackers (a new
    conversation's) are counted in the database as Rasa does."""

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            # Rasa's query for the latest session, reading only the events' JSON (plain rows
            # instead of ORM objects).
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            stored = query.with_entities(self.SQLEvent.data).all()
            if not stored or not self.domain:
                return None
            events = [json.loads(data) for (data,) in stored]
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if len(tracker.events) == len(stored):  # else an event did not load: count them
            setattr(tracker, _STORED, len(stored))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        if not tracker.events:
            return  # nothing to store, whatever the database holds
        with self.session_scope() as session:
            stored = getattr(tracker, _STORED, None)
            if stored is None:
                stored = self._event_query(
                    session, tracker.sender_id, fetch_events_from_all_sessions=False
                ).count()
            new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
            if not new_events:
                return
            dicts = [event.as_dict() for event in new_events]
            if self.event_broker is not None:
                # Rasa publishes before it stores; so do we.
                publish_turn(
                    self.event_broker, [{"sender_id": tracker.sender_id, **d} for d in dicts]
                )
            rows = [
                {
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {})
                    .get("intent", {})
                    .get(INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                }
                for event, data in zip(new_events, dicts, strict=True)
            ]
            session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
        setattr(tracker, _STORED, len(tracker.events))
        logger.debug("Tracker with sender_id '%s' stored to database", tracker.sender_id)
