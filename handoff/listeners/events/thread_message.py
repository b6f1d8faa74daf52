"""Messages in a packet's thread: the owner's replies go to the customer; anyone else's
stay internal notes (they are told so)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from handoff.listeners.people import mentioned_names
from handoff.models import AGENT, QUEUED, Handoff
from handoff.service import HandoffError, HandoffService
from handoff.slack_delivery import META_EVENT
from handoff.slack_text import to_customer_text

log = logging.getLogger(__name__)


def register(app: App, service: HandoffService) -> None:
    @app.event("message")
    def thread_message(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        thread_ts = event.get("thread_ts")
        if (
            not thread_ts
            or thread_ts == event.get("ts")
            or event.get("subtype")
            or event.get("bot_id")
        ):
            return
        channel = event.get("channel", "")
        # Asked first: a packet the outbox resolves in between is then found by its thread.
        unconfirmed = service.packet_unconfirmed()
        h = service.handoff_for_thread(channel, thread_ts)
        if h is None and unconfirmed:
            h = _unconfirmed_packet(client, context, service, channel, thread_ts)
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


def _unconfirmed_packet(
    client: WebClient, context: BoltContext, service: HandoffService, channel: str, ts: str
) -> Handoff | None:
    """Is the thread's parent our packet whose post Slack stored but answered with a 5xx or a
    timeout? Its ts is unknown until the outbox looks for it by its key; the parent carries
    that key in its metadata, so the reply is not dropped meanwhile. A failing lookup raises:
    Bolt answers with an error and Slack redelivers the event (replies are idempotent)."""
    resp = client.conversations_replies(channel=channel, ts=ts, include_all_metadata=True, limit=1)
    messages: list[dict[str, Any]] = resp.get("messages") or []
    parent = messages[0] if messages else {}
    meta = parent.get("metadata") or {}
    key = (meta.get("event_payload") or {}).get("key")
    if parent.get("ts") != ts or meta.get("event_type") != META_EVENT or not isinstance(key, str):
        return None
    if context.bot_id and parent.get("bot_id") != context.bot_id:
        return None  # only our own posts say which handoff they are
    return service.packet_found(key, channel, ts)
