"""Resolve button: opens the outcome modal for the agent who owns the chat."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from handoff.models import AGENT
from handoff.packet import RESOLVE_ACTION
from handoff.service import HandoffError, HandoffService

RESOLVE_MODAL = "handoff_resolve_modal"

OUTCOME_LABELS = {
    "resolved": "Resolved",
    "not_resolved": "Not resolved",
    "spam": "Spam",
    "duplicate": "Duplicate",
}


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def resolve_view(handoff_id: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": RESOLVE_MODAL,
        "private_metadata": str(handoff_id),
        "title": {"type": "plain_text", "text": f"Resolve #{handoff_id}"[:24]},
        "submit": {"type": "plain_text", "text": "Resolve"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "outcome",
                "label": {"type": "plain_text", "text": "Outcome"},
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "initial_option": _option("resolved", "Resolved"),
                    "options": [_option(v, t) for v, t in OUTCOME_LABELS.items()],
                },
            },
            {
                "type": "input",
                "block_id": "after",
                "label": {"type": "plain_text", "text": "Then"},
                "element": {
                    "type": "radio_buttons",
                    "action_id": "value",
                    "initial_option": _option("hand_back", "Hand back to the AI assistant"),
                    "options": [
                        _option("hand_back", "Hand back to the AI assistant"),
                        _option("close", "Close the chat"),
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": {"type": "plain_text", "text": "Note (internal)"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            },
        ],
    }


def register(app: App, service: HandoffService) -> None:
    @app.action(RESOLVE_ACTION)
    def open_resolve(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        user_id = body["user"]["id"]
        handoff_id = int(action["value"])
        try:
            h = service.get(handoff_id)
            if h.state != AGENT:
                raise HandoffError(f"handoff #{handoff_id} is already closed.")
            if h.agent_id != user_id:
                raise HandoffError(f"only {h.agent_name}, who claimed this chat, can resolve it.")
        except HandoffError as exc:
            client.chat_postEphemeral(
                channel=body["channel"]["id"], user=user_id, text=f"Sorry, {exc}"
            )
            return
        client.views_open(trigger_id=body["trigger_id"], view=resolve_view(handoff_id))
