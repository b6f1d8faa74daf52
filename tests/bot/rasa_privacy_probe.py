"""Run in Rasa's venv: bot/privacy_channel.py on a real SQL tracker store, over Sanic's test
client; prints what each call answered and what the store holds afterwards."""

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.privacy_channel import PrivacyChannel

domain = Domain.load(str(Path(sys.argv[1])))


async def fill(store: SQLTrackerStore) -> None:
    for sender, stamps in (("gone", [1.0, 2.0, 3.0]), ("kept", [5.0])):
        events = [UserUttered("hello", timestamp=ts) for ts in stamps]
        await store.save(DialogueStateTracker.from_events(sender, events, domain.slots))


with tempfile.TemporaryDirectory() as tmp:
    store = SQLTrackerStore(domain, dialect="sqlite", db=str(Path(tmp) / "tracker.db"))
    asyncio.run(fill(store))
    app = SimpleNamespace(
        ctx=SimpleNamespace(
            agent=SimpleNamespace(tracker_store=store, lock_store=InMemoryLockStore())
        )
    )
    bp = PrivacyChannel("tok").blueprint(lambda m: None)
    # The blueprint's handlers, called as Sanic would (no sanic-testing in Rasa's venv).
    routes = {route.uri: route.handler for route in bp._future_routes}

    def post(uri: str, body: dict, token: str = "") -> tuple:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        request = SimpleNamespace(headers=headers, json=body, app=app)
        reply = asyncio.run(routes[uri](request))
        return reply.status, json.loads(reply.body)

    out = {
        "no_token": post("/forget", {"sender_id": "gone"})[0],
        "wrong_token": post("/forget", {"sender_id": "gone"}, "nope")[0],
        "activity": post("/activity", {}, "tok")[1],
        "forget": list(post("/forget", {"sender_id": "gone"}, "tok")),
    }

    async def left() -> dict:
        found = {}
        for sender in ("gone", "kept"):
            tracker = await store.retrieve(sender)
            found[sender] = len(tracker.events) if tracker else 0
        return found

    out["left"] = asyncio.run(left())
    print(json.dumps(out))
