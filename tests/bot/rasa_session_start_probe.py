"""Run in Rasa's venv: which action Rasa picks for `action_session_start` once the channels'
patch is in, and the events it gives on the JSON tracker snapshots, as JSON."""

import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rasa.core.actions.action import action_for_name_or_text  # noqa: E402
from rasa.core.channels.channel import CollectingOutputChannel  # noqa: E402
from rasa.core.nlg import TemplatedNaturalLanguageGenerator  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from bot import session_start  # noqa: E402

SNAPSHOTS = ROOT / "tests" / "data"


def tracker_from(snapshot: str, domain: Domain, locale: str | None) -> DialogueStateTracker:
    data = json.loads((SNAPSHOTS / snapshot).read_text(encoding="utf-8"))
    if locale:  # the widget's language, as Rasa sets it from the message's metadata
        for event in data["events"]:
            if event.get("name") == "session_started_metadata":
                event["value"] = {**event["value"], "locale": locale}
    return DialogueStateTracker.from_dict(data["sender_id"], data["events"], domain.slots)


async def run(snapshot: str, domain: Domain, locale: str | None = None) -> dict:
    tracker = tracker_from(snapshot, domain, locale)
    action = action_for_name_or_text("action_session_start", domain, None)
    output = CollectingOutputChannel()
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    events = await action.run(output, nlg, tracker, domain)
    return {"action": type(action).__name__, "events": [e.as_dict() for e in events]}


async def main() -> dict:
    domain = Domain.load(str(ROOT / "domain.yml"))
    rasa_own = action_for_name_or_text("action_session_start", domain, None)
    out: dict = {"before_install": type(rasa_own).__name__}
    session_start.install()
    session_start.install()  # twice: still one patch
    out["first_message"] = await run("tracker_first_message.json", domain)
    out["german_widget"] = await run("tracker_first_message.json", domain, "de-DE")
    out["paused_expired"] = await run("tracker_paused_expired_session.json", domain)
    session_config = {"session_expiration_time": 60, "carry_over_slots_to_new_session": False}
    no_carry = Domain.from_dict({**domain.as_dict(), "session_config": session_config})
    out["no_carry_over"] = await run("tracker_first_message.json", no_carry)
    return out


print(json.dumps(asyncio.run(main())))
