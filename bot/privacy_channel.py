"""Forgetting conversations, done inside Rasa: Rasa 3.6's HTTP API cannot delete a
conversation (PUT .../tracker/events only appends to a SQL tracker store), and nothing outside
Rasa may touch its tracker store's tables, so this channel adds the two calls the handoff
service's `forget` and retention purge need (handoff/privacy.py), on Rasa's own store object:

  POST /webhooks/privacy/forget    {"sender_id": "..."}  -> {"events": <rows deleted>}
  POST /webhooks/privacy/activity  {}                    -> {"last_event": {sender: ts}}

Both need `Authorization: Bearer <RASA_TOKEN>` (the token of Rasa's own HTTP API); with no
token set they refuse every request. SQL and in-memory tracker stores are supported; another
store answers 501 and says so.

credentials.yml:
    bot.privacy_channel.PrivacyChannel:
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)


class UnsupportedStore(Exception):
    """The tracker store is neither SQL nor in memory."""


def _store(agent: Any) -> Any:
    store = agent.tracker_store
    while hasattr(store, "_tracker_store"):  # FailSafeTrackerStore and other wrappers
        store = store._tracker_store
    return store


def delete_conversation(store: Any, sender_id: str) -> int:
    """Delete every event of `sender_id`; returns how many were deleted."""
    if isinstance(store, SQLTrackerStore):
        with store.session_scope() as session:
            deleted = (
                session.query(store.SQLEvent)
                .filter(store.SQLEvent.sender_id == sender_id)
                .delete(synchronize_session=False)
            )
            session.commit()
            return int(deleted or 0)
    if isinstance(store, InMemoryTrackerStore):
        found = store.store.pop(sender_id, None)
        return 1 if found is not None else 0
    raise UnsupportedStore(type(store).__name__)


def last_events(store: Any) -> dict[str, float]:
    """Each conversation's newest event time (Unix seconds)."""
    if isinstance(store, SQLTrackerStore):
        import sqlalchemy as sa

        column = store.SQLEvent
        with store.session_scope() as session:
            rows = (
                session.query(column.sender_id, sa.func.max(column.timestamp))
                .group_by(column.sender_id)
                .all()
            )
        return {str(s): float(ts) for s, ts in rows if ts is not None}
    if isinstance(store, InMemoryTrackerStore):
        return {}  # nothing outlives the process
    raise UnsupportedStore(type(store).__name__)


class PrivacyChannel(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "privacy"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(str((credentials or {}).get("token") or os.environ.get("RASA_TOKEN") or ""))

    def __init__(self, token: str = "") -> None:
        self.token = token

    def _allowed(self, request: Request) -> bool:
        given = (request.headers.get("authorization") or "").encode()
        return bool(self.token) and hmac.compare_digest(given, f"Bearer {self.token}".encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("privacy_webhook", __name__)

        @bp.route("/forget", methods=["POST"])
        async def forget(request: Request) -> HTTPResponse:
            if not self._allowed(request):
                return response.json({"error": "unauthorized"}, status=401)
            body = request.json if isinstance(request.json, dict) else {}
            sender_id = str(body.get("sender_id") or "")
            if not sender_id:
                return response.json({"error": "sender_id is required"}, status=400)
            agent = request.app.ctx.agent
            try:
                # Under the conversation's lock: no message of it is being handled meanwhile.
                async with agent.lock_store.lock(sender_id):
                    deleted = delete_conversation(_store(agent), sender_id)
            except UnsupportedStore as exc:
                return _unsupported(str(exc))
            logger.info("forgot a conversation: %d events deleted", deleted)
            return response.json({"events": deleted})

        @bp.route("/activity", methods=["POST"])
        async def activity(request: Request) -> HTTPResponse:
            if not self._allowed(request):
                return response.json({"error": "unauthorized"}, status=401)
            try:
                found = last_events(_store(request.app.ctx.agent))
            except UnsupportedStore as exc:
                return _unsupported(str(exc))
            return response.json({"last_event": found})

        return bp


def _unsupported(name: str) -> HTTPResponse:
    return response.json(
        {
            "error": f"the {name} tracker store cannot be searched or deleted from here; "
            "forgetting needs Rasa's SQL tracker store (endpoints.yml)"
        },
        status=501,
    )
