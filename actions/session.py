"""Start of every conversation session: tell the customer they are talking to an AI."""

from __future__ import annotations

from typing import Any

from parley_shared import language
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from knowledge.phrases import phrase

METADATA_SLOT = "session_started_metadata"
LANGUAGE_SLOT = "language"
DISCLOSURE = phrase("disclosure")


def session_language(tracker: Tracker) -> str | None:
    """The widget's language from the session's metadata, else the conversation's so far."""
    meta = tracker.get_slot(METADATA_SLOT) or {}
    if isinstance(meta, dict):
        for key in ("language", "locale", "lang"):
            found = language.normalise(meta.get(key))
            if found:
                return found
    return language.normalise(tracker.get_slot(LANGUAGE_SLOT))


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        events.extend(_carried_over_slots(tracker, domain))
        lang = session_language(tracker)
        if lang:
            events.append(SlotSet(LANGUAGE_SLOT, lang))
        if tracker.is_paused():
            # A person owns this chat: a new session must not hand it back to the bot,
            # and the bot must stay silent.
            events.append(ConversationPaused())
        else:
            dispatcher.utter_message(text=phrase("disclosure", lang))
        events.append(ActionExecuted("action_listen"))
        return events


def _carried_over_slots(tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
    """Slots to set again after SessionStarted (which clears them all)."""
    config = domain.get("session_config") or {}
    carry_over = config.get("carry_over_slots_to_new_session", True)
    return [
        SlotSet(name, value)
        for name, value in tracker.current_slot_values().items()
        # Rasa fills the metadata slot just before this action: it belongs to the new session.
        if value is not None and (carry_over or name == METADATA_SLOT)
    ]
