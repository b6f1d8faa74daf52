"""Claim button on the packet: the first agent to press it owns the chat."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from handoff.listeners.people import display_name
from handoff.packet import CLAIM_ACTION
from handoff.service import HandoffError, HandoffService


def register(app: App, service: HandoffService) -> None:
    @app.action(CLAIM_ACTION)
    def claim(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id = body["user"]["id"]
        handoff_id = int(action["value"])
        try:
            service.claim(handoff_id, user_id, display_name(client, user_id))
        except HandoffError as exc:
            client.chat_postEphemeral(
                channel=body["channel"]["id"],
                user=user_id,
                text=f"Sorry, {exc}",
                thread_ts=body.get("message", {}).get("ts"),
            )
