"""Run in Rasa's venv: bot/event_store.py against Rasa's own SQL tracker store and SQL broker.
The same three turns (the second one a new session) go through both pairs; prints the rows
each tracker store and each broker table holds, the trackers read back, and the commits."""

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from rasa.core.brokers.sql import SQLEventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.event_store import TurnSQLEventBroker, TurnSQLTrackerStore

domain = Domain.load(str(Path(sys.argv[1])))

SAVE = "save"  # in a turn: save the tracker there too


def greeting_in_a_new_session(text: str, reply: str, at: float) -> list:
    """A session start, then the customer's greeting and the bot's."""
    return [
        ActionExecuted("action_session_start", timestamp=at),
        SessionStarted(timestamp=at),
        ActionExecuted("action_listen", timestamp=at),
        UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=at + 0.5),
        ActionExecuted("utter_greet", timestamp=at + 0.6),
        BotUttered(reply, timestamp=at + 0.6),
    ]


TURNS = [
    [
        *greeting_in_a_new_session("hello", "Hi! I am an AI assistant.", 1.0),
        ActionExecuted("action_listen", timestamp=2.2),
    ],
    [],  # a save with nothing new
    [
        UserUttered("I want a person", {"name": "human_handoff", "confidence": 0.9}, timestamp=3.0),
        SlotSet("handoff_trigger", {"reason": "asked"}, timestamp=3.1),
        # Saved in the middle of the turn too. (Not across a session start: Rasa's own store
        # then stores and publishes the old session's events again.)
        SAVE,
        ActionExecuted("action_human_handoff", timestamp=3.1),
        ActionExecuted("action_listen", timestamp=3.2),
    ],
    greeting_in_a_new_session("back again", "Welcome back.", 9.0),
]


STORE_COLUMNS = "sender_id, type_name, timestamp, intent_name, action_name, data"


def rows(db: Path, columns: str) -> list:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        query = sa.text(f"SELECT {columns} FROM events ORDER BY id")
        found = [list(r) for r in conn.execute(query)]
    engine.dispose()
    return found


async def run(store_cls, broker_cls, folder: Path) -> dict:
    broker = broker_cls(db=str(folder / "events.db"))
    commits = []
    sa.event.listen(broker.engine, "commit", lambda conn: commits.append(1))
    store = store_cls(domain, dialect="sqlite", db=str(folder / "tracker.db"), event_broker=broker)
    statements = []
    sa.event.listen(
        store.engine, "before_cursor_execute", lambda *args: statements.append(args[2].split()[0])
    )
    tracker = DialogueStateTracker("c1", domain.slots)
    for turn in TURNS:
        # Like Rasa's processor: read the stored tracker, add the turn's events, save.
        tracker = await store.retrieve("c1") or tracker
        for event in turn:
            if event == SAVE:
                await store.save(tracker)
            else:
                tracker.update(event)
        await store.save(tracker)
    # A copy of the latest session this store did not read: counted in the database, and
    # nothing in it is new.
    latest_events = [e.as_dict() for e in (await store.retrieve("c1")).events]
    stale = DialogueStateTracker.from_dict("c1", latest_events, domain.slots)
    await store.save(stale)
    saved_statements = list(statements)
    latest = await store.retrieve("c1")
    full = await store.retrieve_full_tracker("c1")
    return {
        "tracker_rows": rows(folder / "tracker.db", STORE_COLUMNS),
        "broker_rows": [
            [s, json.loads(d)] for s, d in rows(folder / "events.db", "sender_id, data")
        ],
        "latest": [e.as_dict() for e in latest.events],
        "full_len": len(full.events),
        "broker_commits": len(commits),
        "store_statements": saved_statements,
    }


with tempfile.TemporaryDirectory() as tmp:
    (Path(tmp) / "rasa").mkdir()
    (Path(tmp) / "ours").mkdir()
    rasa = asyncio.run(run(SQLTrackerStore, SQLEventBroker, Path(tmp) / "rasa"))
    ours = asyncio.run(run(TurnSQLTrackerStore, TurnSQLEventBroker, Path(tmp) / "ours"))
    print(
        json.dumps({"rasa": rasa, "ours": ours, "events": sum(e != SAVE for t in TURNS for e in t)})
    )
