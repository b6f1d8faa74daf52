"""What the action server uses to open a handoff: writes it to the shared handoff
database (durable even if the handoff service is down) and nudges the service so the
packet is posted at once."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from typing import Any

import httpx

from handoff.db import Database
from handoff.service import HandoffService, OpenResult
from handoff.settings import Settings


def _at(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None) if ts else None


class HandoffClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self.service = HandoffService(self.db, settings.slack_channel, wake=self._nudge)
        # Reused: a new client per request would rebuild its TLS context every time.
        self._http = httpx.Client(timeout=2.0)

    def _nudge(self) -> None:
        def post() -> None:
            headers = (
                {"Authorization": f"Bearer {self.settings.internal_token}"}
                if self.settings.internal_token
                else {}
            )
            # If the service is down it finds the handoff when it polls its outbox.
            with contextlib.suppress(httpx.HTTPError):
                self._http.post(f"{self.settings.service_url}/internal/wake", headers=headers)

        threading.Thread(target=post, daemon=True).start()

    def open_handoff(
        self, sender_id: str, packet: dict[str, Any], events: list[dict[str, Any]]
    ) -> OpenResult:
        bots = [e.get("timestamp") for e in events if e.get("event") == "bot" and e.get("text")]
        users = [e.get("timestamp") for e in events if e.get("event") == "user"]
        return self.service.open_handoff(
            sender_id,
            packet,
            first_bot_response_at=_at(bots[0]) if bots else None,
            started_at=_at(users[0]) if users else None,
        )

    def record_feedback(self, sender_id: str, verdict: str, **details: Any) -> None:
        """The customer's yes/no on a knowledge answer or suggestion (HandoffService's)."""
        self.service.record_feedback(sender_id, verdict, **details)


_client: HandoffClient | None = None
_lock = threading.Lock()


def get_client() -> HandoffClient:
    """One client per process, built from the environment on first use."""
    global _client
    with _lock:
        if _client is None:
            _client = HandoffClient(Settings.from_env())
        return _client


def reset_client() -> None:
    """Forget the cached client (tests change the environment between cases)."""
    global _client
    with _lock:
        if _client is not None:
            _client._http.close()
            _client.db.dispose()
        _client = None
