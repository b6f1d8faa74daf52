"""Rasa's socket.io channel with two fixes the widget depends on.

Rasa 3.6's `SocketIOOutput.send_custom_json` calls `sio.emit(event, **payload)`, so a custom
payload such as the knowledge answer's `{"answer_type", "sources"}` raises a TypeError and the
whole turn is lost. Here custom payloads are sent as `{"custom": payload}`, the REST channel's
shape. And bot messages injected by the handoff (an agent's reply) keep their
`parley_handoff` metadata, so the widget can show the agent's name and a "human" badge,
and handoff notices (queued, joined, AI back, closed) as system notices.

credentials.yml:
    bot.socketio_channel.SocketIOChannel:
      user_message_evt: user_uttered
      ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

HANDOFF_METADATA = "parley_handoff"
SHOWN_FIELDS = ("agent", "kind", "name")  # the idempotency key stays on the server


class SocketIOChannelOutput(SocketIOOutput):
    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        # A bot event's metadata arrives merged into kwargs.
        marker = kwargs.get(HANDOFF_METADATA)
        for part in text.strip().split("\n\n"):
            message: dict[str, Any] = {"text": part}
            if isinstance(marker, dict):
                # agent: who wrote an agent's message; kind (queued, joined, handback,
                # closed): a handoff notice; name: the agent a joined notice is about.
                message["metadata"] = {
                    HANDOFF_METADATA: {k: str(marker.get(k) or "") for k in SHOWN_FIELDS}
                }
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
        # Rasa builds a plain SocketIOOutput for every incoming message; swap in ours.
        async def with_fixed_output(message: UserMessage) -> Any:
            message.output_channel = SocketIOChannelOutput(self.sio, self.bot_message_evt)
            return await on_new_message(message)

        return super().blueprint(with_fixed_output)
