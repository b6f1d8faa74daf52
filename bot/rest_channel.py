"""Rasa's REST channel behind the message guard (bot/channel_guard.py): a message that is too
long or comes too fast gets a polite reply and never reaches the conversation; the others
reach it with personal data removed, command syntax neutralised and page URLs trimmed.

Same URL and request body as Rasa's `rest` channel:
POST /webhooks/rest/webhook {"sender": "...", "message": "...", "metadata": {...}}

credentials.yml:
    bot.rest_channel.RestChannel:
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from bot import action_recovery, session_start
from bot.channel_guard import MAX_REQUEST_BYTES, Refused, client_address, shared_guard

logger = logging.getLogger(__name__)

# A failed custom action apologises and ends the turn listening (see bot/action_recovery.py).
action_recovery.install()
# Rasa itself opens each session with the AI disclosure (see bot/session_start.py).
session_start.install()


class RestChannel(RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"  # keeps the URL /webhooks/rest/webhook

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        guard = shared_guard()  # a malformed setting stops the server at start-up
        module = inspect.getmodule(self)
        webhook = Blueprint(
            f"custom_webhook_{type(self).__name__}", module.__name__ if module else None
        )

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse | ResponseStream:
            if len(request.body or b"") > MAX_REQUEST_BYTES:
                # Not parsed: answered like any other refusal (a chat client shows the
                # reply), and nothing reaches the tracker.
                return response.json([{"text": guard.too_long().reply}])
            if not isinstance(request.json, dict):
                return response.json(
                    {"error": 'Send a JSON object: {"sender": "...", "message": "..."}'},
                    status=400,
                )
            sender_id = await self._extract_sender(request)
            stream = bool_arg(request, "stream", default=False)
            verdict = guard.admit(
                conversation=str(sender_id),
                address=client_address(request),
                text=self._extract_message(request),
                metadata=self.get_metadata(request),
            )
            if isinstance(verdict, Refused):
                reply = {"recipient_id": sender_id, "text": verdict.reply}
                if stream:
                    return response.text(json.dumps(reply) + "\n", content_type="text/event-stream")
                return response.json([reply])

            input_channel = self._extract_input_channel(request)
            if stream:
                return response.stream(
                    self.stream_response(
                        on_new_message,
                        verdict.text,
                        sender_id,
                        input_channel,
                        verdict.metadata,
                    ),
                    content_type="text/event-stream",
                )
            collector = CollectingOutputChannel()
            message = UserMessage(
                verdict.text,
                collector,
                sender_id,
                input_channel=input_channel,
                metadata=verdict.metadata,
            )
            try:
                await on_new_message(message)
            except (asyncio.CancelledError, Exception):
                # As Rasa's channel: the customer gets what was said before the failure.
                logger.exception("Handling a REST message in %s failed", sender_id)
            return response.json(collector.messages)

        return webhook
