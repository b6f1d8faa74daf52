"""The customer wants a person: hand the conversation over and keep the bot quiet."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

PERSON_WILL_FOLLOW_UP = (
    "I've asked a person from our support team to take over. They will reply here; "
    "until then I'll stay quiet."
)


class ActionHumanHandoff(Action):
    def name(self) -> str:
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=PERSON_WILL_FOLLOW_UP)
        return [ConversationPaused()]
