"""Messages in a packet's thread: the owner's replies go to the customer; anyone else's
stay internal notes (they are told so)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from handoff.listeners.people import mentioned_names
from handoff.models import AGENT, QUEUED
from handoff.service import HandoffError, HandoffService
from handoff.slack_text import to_customer_text

log = logging.getLogger(__name__)


def register(app: App, service: HandoffService) -> None:
    @app.event("message")
    def thread_message(event: dict[str, Any], client: WebClient) -> None:
        thread_ts = event.get("thread_ts")
        if (
            not thread_ts
            or thread_ts == event.get("ts")
            or event.get("subtype")
            or event.get("bot_id")
        ):
            return
        h = service.handoff_for_thread(event.get("channel", ""), thread_ts)
        if h is None:
            return
        user_id = event.get("user", "")
        text = event.get("text") or ""
        if h.state == AGENT and h.agent_id == user_id:
            try:
                service.agent_reply(
                    h.id,
                    user_id,
                    to_customer_text(text, mentioned_names(client, text)),
                    source_key=f"slack:{event['channel']}:{event['ts']}",
                )
            except HandoffError as exc:
                log.info("agent reply refused: %s", exc)
            return
        if h.state == QUEUED:
            hint = "Claim the chat first; this message stayed internal."
        elif h.state == AGENT:
            hint = f"{h.agent_name} owns this chat; your message stayed an internal note."
        else:
            hint = "This chat is closed; your message was not sent to the customer."
        client.chat_postEphemeral(
            channel=event["channel"], user=user_id, text=hint, thread_ts=thread_ts
        )
