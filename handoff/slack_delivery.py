"""Slack side of the outbox: posts and updates the packet and the thread via the Web API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handoff.models import Handoff, OutboxItem
from handoff.packet import MESSAGE_TEXT_LIMIT, build_blocks, headline, minimal_blocks
from handoff.rasa_client import DeliveryError, retry_after_seconds
from handoff.slack_text import truncate

log = logging.getLogger(__name__)
META_EVENT = "parley_outbox"
# Slack errors that no retry can fix: the request itself is wrong.
PERMANENT_ERRORS = {
    "invalid_blocks",
    "msg_too_long",
    "invalid_arguments",
    "no_text",
    "invalid_blocks_format",
    "too_many_attachments",
}


def make_web_client(token: str, base_url: str) -> WebClient:
    # No built-in retries: the outbox retries, and knows when a resend could duplicate.
    client = WebClient(token=token, base_url=base_url if base_url.endswith("/") else base_url + "/")
    client.retry_handlers = []
    return client


def _wrap(exc: Exception) -> DeliveryError:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = (
            str((exc.response.data or {}).get("error", ""))
            if isinstance(exc.response.data, dict)
            else ""
        )
        if status == 429 or error == "ratelimited":
            return DeliveryError(
                "Slack rate limited", retry_after=retry_after_seconds(exc.response.headers)
            )
        if status >= 500:
            return DeliveryError(f"Slack answered {status}", ambiguous=True)
        return DeliveryError(f"Slack error: {error or status}", permanent=error in PERMANENT_ERRORS)
    if isinstance(exc, TimeoutError | URLError | ConnectionError | OSError):
        return DeliveryError(f"Slack unreachable: {exc}", ambiguous=True)
    return DeliveryError(f"Slack delivery failed: {exc}")


class SlackDelivery:
    def __init__(self, client: WebClient, default_channel: str) -> None:
        self.client = client
        self.default_channel = default_channel

    def _find_posted(self, channel: str, thread_ts: str | None, key: str) -> str | None:
        """After an ambiguous failure: is a message with this idempotency key already there?"""
        try:
            if thread_ts:
                resp = self.client.conversations_replies(
                    channel=channel, ts=thread_ts, include_all_metadata=True, limit=200
                )
            else:
                resp = self.client.conversations_history(
                    channel=channel, include_all_metadata=True, limit=100
                )
        except Exception as exc:  # noqa: BLE001 - any failure means "retry later"
            raise _wrap(exc) from exc
        for message in resp.get("messages") or []:
            meta = message.get("metadata") or {}
            if (
                meta.get("event_type") == META_EVENT
                and (meta.get("event_payload") or {}).get("key") == key
            ):
                return str(message.get("ts"))
        return None

    def deliver(self, item: OutboxItem, handoff: Handoff, check_first: bool) -> dict[str, Any]:
        channel = handoff.slack_channel or self.default_channel
        meta = {"event_type": META_EVENT, "event_payload": {"key": item.key}}
        try:
            if item.op == "post_packet":
                if check_first and (ts := self._find_posted(channel, None, item.key)):
                    return {"ts": ts, "channel": channel, "found": True}

                def post(blocks: list[dict[str, Any]]) -> Any:
                    return self.client.chat_postMessage(
                        channel=channel,
                        text=headline(handoff.id, handoff.packet),
                        blocks=blocks,
                        metadata=meta,
                        unfurl_links=False,
                    )

                resp, refused = self._with_fallback(handoff, post)
                result = {"ts": resp["ts"], "channel": resp.get("channel") or channel}
                if refused:
                    log.critical(
                        "ALERT: Slack refused the packet of handoff #%s (%s); posted a minimal "
                        "packet instead. Agents can read it all with `python -m handoff console "
                        "show %s`.",
                        handoff.id,
                        refused,
                        handoff.id,
                    )
                    result["minimal_because"] = refused
                return result
            if not handoff.slack_ts:
                raise DeliveryError("The packet is not posted yet")
            if item.op == "update_packet":
                slack_ts = handoff.slack_ts

                def update(blocks: list[dict[str, Any]]) -> Any:
                    return self.client.chat_update(
                        channel=channel,
                        ts=slack_ts,
                        text=headline(handoff.id, handoff.packet),
                        blocks=blocks,
                    )

                _, refused = self._with_fallback(handoff, update)
                return {"minimal_because": refused} if refused else {}
            if item.op == "post_thread":
                if check_first and (ts := self._find_posted(channel, handoff.slack_ts, item.key)):
                    return {"ts": ts, "found": True}
                resp = self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=handoff.slack_ts,
                    text=truncate(item.payload["text"], MESSAGE_TEXT_LIMIT),
                    metadata=meta,
                    unfurl_links=False,
                )
                return {"ts": resp["ts"]}
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified into retry/permanent
            raise _wrap(exc) from exc
        raise DeliveryError(f"Unknown Slack operation {item.op}", permanent=True)

    def _with_fallback(
        self, h: Handoff, send: Callable[[list[dict[str, Any]]], Any]
    ) -> tuple[Any, str]:
        """Send the full packet; if Slack refuses it for good (invalid_blocks, …), send the
        minimal one, so the chat still reaches an agent. Returns (response, refusal)."""
        try:
            blocks = self._blocks(h)
        except Exception as exc:  # noqa: BLE001 - a malformed packet must not hide the chat
            log.exception("handoff #%s: the packet could not be rendered", h.id)
            reason = f"the packet could not be rendered: {type(exc).__name__}"
        else:
            try:
                return send(blocks), ""
            except SlackApiError as exc:
                error = _wrap(exc)
                if not error.permanent:
                    raise error from exc
                reason = str(error)
        return send(self._blocks(h, minimal_because=reason)), reason

    @staticmethod
    def _blocks(h: Handoff, minimal_because: str = "") -> list[dict[str, Any]]:
        state = {
            "agent_id": h.agent_id,
            "agent_name": h.agent_name,
            "resolution": h.resolution or ("abandoned" if h.state == "closed" else None),
            "note": h.resolution_note,
        }
        if minimal_because:
            return minimal_blocks(h.id, h.packet, h.state, minimal_because, **state)
        return build_blocks(h.id, h.packet, h.state, **state)
