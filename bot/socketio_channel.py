"""Rasa's socket.io channel with two fixes the widget depends on.

Rasa 3.6's `SocketIOOutput.send_custom_json` calls `sio.emit(event, **payload)`, so a custom
payload such as the knowledge answer's `{"answer_type", "sources"}` raises a TypeError and the
whole turn is lost. Here custom payloads are sent as `{"custom": payload}`, the REST channel's
shape. And bot messages injected by the handoff (an agent's reply) keep their
`parley_handoff` metadata, so the widget can show the agent's name and a "human" badge,
and handoff notices (queued, joined, AI back, closed) as system notices.

Every customer message passes the message guard first (bot/channel_guard.py), as on the
REST channel: too long or too fast gets a polite reply and never reaches the conversation;
the rest arrives with personal data removed, command syntax neutralised and page URLs trimmed.

credentials.yml:
    bot.socketio_channel.SocketIOChannel:
      user_message_evt: user_uttered
      ...
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from parley_shared.endings import END_METADATA, GOODBYE_RESPONSES
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint
from socketio import AsyncServer

from bot import action_recovery, session_start
from bot.channel_guard import MAX_REQUEST_BYTES, Refused, client_address, shared_guard

logger = logging.getLogger(__name__)

# A failed custom action apologises and ends the turn listening (see bot/action_recovery.py).
action_recovery.install()
# Rasa itself opens each session with the AI disclosure (see bot/session_start.py).
session_start.install()

HANDOFF_METADATA = "parley_handoff"
# Sent to a conversation's other tabs with what the customer said in one of them (the bot's
# replies reach every tab already: they go to the session's room).
USER_ECHO_EVT = "user_echo"
SHOWN_FIELDS = ("agent", "kind", "state", "name")  # the idempotency key stays on the server


class SocketIOChannelOutput(SocketIOOutput):
    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        # A bot event's metadata arrives merged into kwargs.
        marker = kwargs.get(HANDOFF_METADATA)
        parts = text.strip().split("\n\n")
        for i, part in enumerate(parts):
            message: dict[str, Any] = {"text": part}
            metadata: dict[str, Any] = {}
            if isinstance(marker, dict):
                # agent: who wrote an agent's message; kind (queued, joined, handback,
                # closed): a handoff notice; state: the handoff state it moves to (set by
                # the handoff service); name: the agent a joined notice is about.
                metadata[HANDOFF_METADATA] = {k: str(marker.get(k) or "") for k in SHOWN_FIELDS}
            if i == len(parts) - 1 and kwargs.get("utter_action") in GOODBYE_RESPONSES:
                metadata[END_METADATA] = "goodbye"  # the widget fetches the survey's key
            if metadata:
                message["metadata"] = metadata
            await self._send_message(recipient_id, message)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._send_message(recipient_id, {"custom": json_message})


class SocketIOChannel(SocketIOInput):
    """Same settings and events as Rasa's `socketio` channel."""

    def get_output_channel(self) -> OutputChannel | None:
        # Used for messages sent through Rasa's HTTP API with output_channel=latest.
        channel = super().get_output_channel()
        return SocketIOChannelOutput(self.sio, self.bot_message_evt) if channel else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        guard = shared_guard()  # a malformed setting stops the server at start-up
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None  # set by Rasa's blueprint
        sio.eio.max_http_buffer_size = MAX_REQUEST_BYTES  # engine.io's packet limit

        # Replaces Rasa's handler for the same event (socket.io keeps one per event): the
        # same session handling, with the guard in front and our output channel.
        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                return
            if self.session_persistence:
                sender_id = data.get("session_id")
                if not sender_id:
                    logger.warning("Ignored a socket.io message without a session_id")
                    return
            else:
                sender_id = sid
            output = SocketIOChannelOutput(sio, self.bot_message_evt)
            verdict = guard.admit(
                conversation=str(sender_id),
                address=self._client_address(sio, sid),
                text=data.get("message", ""),
                metadata=_metadata(data.get(self.metadata_key)),
            )
            if isinstance(verdict, Refused):
                await output.send_text_message(str(sender_id), verdict.reply)
                return
            if self.session_persistence:
                await self._echo(sio, sid, str(sender_id), verdict.text, verdict.metadata)
            message = UserMessage(
                verdict.text,
                output,
                sender_id,
                input_channel=self.name(),
                metadata=verdict.metadata,
            )
            await on_new_message(message)

        return blueprint

    async def _echo(
        self, sio: AsyncServer, sid: str, session_id: str, text: str, metadata: Any
    ) -> None:
        """The customer's message (as stored: personal data removed; a button as its title)
        to the conversation's other tabs, so they need not fetch the history to show it."""
        if text.startswith("/"):
            text = str(metadata.get("shown_as") or "") if isinstance(metadata, dict) else ""
        if text.strip():
            await sio.emit(
                USER_ECHO_EVT,
                {"text": text},
                room=session_id,
                skip_sid=sid,
                namespace=self.namespace,
            )

    def _client_address(self, sio: AsyncServer, sid: str) -> str:
        try:
            environ = sio.get_environ(sid, namespace=self.namespace or "/") or {}
        except KeyError:
            return ""
        return client_address(environ.get("sanic.request"))


def _metadata(raw: Any) -> Any:
    # Rasa's channel accepts metadata as a JSON string too.
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return {}
    return raw
