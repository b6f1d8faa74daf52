"""The customer's "did that help?" on a knowledge answer or suggestion.

Recorded in the handoff database beside the ledger (question, article and version, answer
type, confidence, verdict), where the support lead's report and `python -m knowledge gaps`
read it. If the handoff service cannot be reached, the verdict travels as the `answer_feedback`
slot on Rasa's event broker, which the service follows and stores once it is back (the time
the customer answered makes the two routes one record). A "no" counts as a miss for the
handoff triggers (the `kb_answer_type` slot) and offers a person at once: after a suggestion
the rules hand off straight away, since its button says "No, talk to a person"; after an
answer the bot asks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from handoff.notices import QUESTION_META

log = logging.getLogger(__name__)

YES, NO = "yes", "no"
# The slot that carries a verdict the handoff service did not take (handoff/event_broker.py).
FEEDBACK_SLOT = "answer_feedback"
# kb_answer_type after a "no": "abstain" when the bot then offers a person (a following "yes"
# brings one in), "declined" when the rules hand off at once.
AFTER_NO = {"kb": "abstain", "suggest": "declined"}


def verdict_of(tracker: Tracker) -> str | None:
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    return {"affirm": YES, "deny": NO}.get(str(intent))


def answered_question(events: list[dict[str, Any]]) -> str:
    """The question of the latest knowledge answer (the action put it in the bot event's
    metadata, which never reaches the browser)."""
    for event in reversed(events):
        if event.get("event") == "bot":
            question = (event.get("metadata") or {}).get(QUESTION_META)
            if isinstance(question, str):
                return question
    return ""


def cited_source(sources: Any) -> dict[str, Any]:
    rows = [s for s in sources or [] if isinstance(s, dict)]
    return next((s for s in rows if s.get("used")), rows[0] if rows else {})


def feedback_record(verdict: str, answer_type: str, tracker: Tracker) -> dict[str, Any]:
    """What the handoff service stores: the verdict, the question and article it was on,
    and when the customer answered (Unix seconds)."""
    source = cited_source(tracker.get_slot("kb_sources"))
    score = source.get("score")
    user: dict[str, Any] = next(
        (e for e in reversed(tracker.events) if e.get("event") == "user"), {}
    )
    at = user.get("timestamp") or time.time()
    return {
        "verdict": verdict,
        "question": answered_question(list(tracker.events)),
        "article_path": str(source.get("path") or ""),
        "article_version": str(source.get("version") or ""),
        "answer_type": answer_type,
        "confidence": float(score) if isinstance(score, int | float) else None,
        "at": float(at),
    }


def record(sender_id: str, data: dict[str, Any]) -> None:
    from actions.settings import get_settings
    from handoff.client import get_client

    settings = get_settings()
    details = dict(data)
    get_client(settings.handoff_url, settings.handoff_token).record_feedback(
        sender_id, details.pop("verdict"), **details
    )


class ActionAnswerFeedback(Action):
    def name(self) -> str:
        return "action_answer_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        verdict = verdict_of(tracker)
        answer_type = str(tracker.get_slot("kb_answer_type") or "")
        if verdict is None or answer_type not in AFTER_NO:
            # The rules only come here after an answer or suggestion and a yes or no.
            dispatcher.utter_message(response="utter_anything_else")
            return []
        from handoff.client import HandoffUnavailable

        data = feedback_record(verdict, answer_type, tracker)
        events: list[EventType] = []
        try:
            await asyncio.to_thread(record, tracker.sender_id, data)
        except HandoffUnavailable as exc:
            # Rasa's event broker brings it to the handoff service once that is back.
            log.warning(
                "answer feedback for %s goes by the event broker: %s", tracker.sender_id, exc
            )
            events.append(SlotSet(FEEDBACK_SLOT, data))
        except Exception:  # noqa: BLE001 - a refused record: the conversation goes on
            log.exception("could not record answer feedback for %s", tracker.sender_id)
        if verdict == YES:
            dispatcher.utter_message(response="utter_glad_to_help")
            return [SlotSet("kb_answer_type", None), *events]
        if answer_type == "kb":
            dispatcher.utter_message(response="utter_answer_did_not_help")
        return [SlotSet("kb_answer_type", AFTER_NO[answer_type]), *events]
