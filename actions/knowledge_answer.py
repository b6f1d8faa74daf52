"""Questions outside the routine intents: answered from the knowledge base."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

CANNOT_ANSWER_YET = (
    "I can't answer that yet. Would you like me to bring in a person from our support team?"
)


class ActionAnswerFromKnowledge(Action):
    def name(self) -> str:
        return "action_answer_from_knowledge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        # Never guess: until the knowledge base answers, say so and offer a person.
        dispatcher.utter_message(
            text=CANNOT_ANSWER_YET,
            json_message={"answer_type": "abstain", "sources": []},
        )
        return [SlotSet("kb_answer_type", "abstain"), SlotSet("kb_sources", [])]
