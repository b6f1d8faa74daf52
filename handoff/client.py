"""How the action server reaches the handoff service: its internal HTTP API, nothing else.

Only the handoff service opens the handoff database. A handoff request also travels on
Rasa's event broker (the `handoff_request` slot the action sets, handoff/event_broker.py), so
one asked for while the service is down is opened once it is back; the request's key makes
the two deliveries one handoff."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx

log = logging.getLogger(__name__)


class HandoffUnavailable(RuntimeError):
    """The handoff service did not answer; the broker still carries the request."""


def handoff_request(
    key: str, packet: dict[str, Any], events: list[dict[str, Any]]
) -> dict[str, Any]:
    """The request the action sends (and sets as its slot): the packet, and the times the
    ledger needs from the conversation so far."""
    bots = [e.get("timestamp") for e in events if e.get("event") == "bot" and e.get("text")]
    users = [e.get("timestamp") for e in events if e.get("event") == "user"]
    return {
        "key": key,
        "packet": packet,
        "started_at": users[0] if users else None,
        "first_bot_response_at": bots[0] if bots else None,
    }


class HandoffClient:
    def __init__(self, url: str, token: str = "", timeout: float = 3.0) -> None:
        """`url`: the internal API (HANDOFF_URL); `token`: HANDOFF_INTERNAL_TOKEN."""
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Reused: a new client per request would open a new connection every time.
        self._http = httpx.Client(timeout=timeout, headers=headers)

    def _post(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(f"{self.url}/internal/{name}", json=body)
        except httpx.HTTPError as exc:
            raise HandoffUnavailable(
                f"the handoff service at {self.url} did not answer: {exc}"
            ) from exc
        if response.status_code >= 500:
            raise HandoffUnavailable(f"the handoff service answered {response.status_code}")
        response.raise_for_status()
        data = response.json()
        return data if isinstance(data, dict) else {}

    def open_handoff(self, sender_id: str, request: dict[str, Any]) -> dict[str, Any]:
        """Open (idempotently, by the request's key) a handoff: `{"handoff_id", "created"}`."""
        return self._post("handoffs", {"sender_id": sender_id, **request})

    def record_feedback(self, sender_id: str, verdict: str, **details: Any) -> None:
        """The customer's yes/no on a knowledge answer or suggestion."""
        self._post("feedback", {"sender_id": sender_id, "verdict": verdict, **details})

    def close(self) -> None:
        self._http.close()


_clients: dict[tuple[str, str], HandoffClient] = {}
_lock = threading.Lock()


def get_client(url: str, token: str = "") -> HandoffClient:
    """One client per process (per address and token: the caller's settings say which)."""
    with _lock:
        client = _clients.get((url, token))
        if client is None:
            client = _clients[(url, token)] = HandoffClient(url, token)
        return client


def reset_client() -> None:
    """Close and forget the cached clients (tests change the settings between cases)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
