"""Rasa's SQL tracker store and SQL event broker, with one round trip per turn instead of many.

Rasa 3.6's `SQLTrackerStore.save` first calls `stream_events`, which reads the whole
conversation back from the database (and rebuilds every event) only to learn which events are
new, then counts the stored events again to insert the same ones. Its `SQLEventBroker` commits
each event in a transaction of its own: a turn of seven events is seven commits. The profile of
a busy Rasa server (bench/results/scale.md) put about a fifth of its CPU time there.

`TurnSQLTrackerStore` counts the stored events once, publishes the new ones and stores them;
`TurnSQLEventBroker` writes a turn's events in one transaction, in order. Tables, rows and
what the broker's readers see are Rasa's own, so `handoff/event_broker.py` and Rasa's tools
read them unchanged. Both are named in `endpoints.yml` (`type: bot.event_store...`).
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
        with self.session_scope() as session:
            session.add_all(
                self.SQLBrokerEvent(sender_id=event.get("sender_id"), data=json.dumps(event))
                for event in events
            )
            session.commit()


def publish_turn(broker: EventBroker, events: list[dict[str, Any]]) -> None:
    """One transaction where the broker offers it (`TurnSQLEventBroker`), else one call each
    (RabbitMQ: Rasa's Pika broker sends each event as a message of its own anyway)."""
    if isinstance(broker, TurnSQLEventBroker):
        broker.publish_turn(events)
    else:
        for event in events:
            broker.publish(event)


class TurnSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store; `save` finds the new events once and publishes and stores them.

    The new events are the tracker's events past those stored for its latest session, exactly
    what Rasa's `stream_events` and `_additional_events` each work out on their own."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
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
            session.add_all(
                self.SQLEvent(
                    sender_id=tracker.sender_id,
                    type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"),
                    data=json.dumps(data),
                )
                for event, data in zip(new_events, dicts, strict=True)
            )
            session.commit()
        logger.debug("Tracker with sender_id '%s' stored to database", tracker.sender_id)
