"""Rasa's HTTP API, used to speak to the customer and to pause/resume the bot."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

from handoff.notices import HANDOFF_META


class DeliveryError(Exception):
    """A delivery failed. `retry_after` is the server's requested wait (429), `ambiguous`
    means the request may have reached the server (so check before resending) and
    `permanent` means retrying cannot help."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        ambiguous: bool = False,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.ambiguous = ambiguous
        self.permanent = permanent


def retry_after_seconds(headers: Any) -> float | None:
    raw = None
    if headers is not None:
        raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None


class RasaClient:
    def __init__(self, base_url: str, token: str = "", timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _params(self, **extra: str) -> dict[str, str]:
        params = dict(extra)
        if self.token:
            params["token"] = self.token
        return params

    def _url(self, sender_id: str, suffix: str) -> str:
        return f"{self.base_url}/conversations/{quote(sender_id, safe='')}/{suffix}"

    def append_events(self, sender_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Append events and deliver any bot message live on the customer's latest channel."""
        try:
            resp = self._http.post(
                self._url(sender_id, "tracker/events"),
                # Without include_events=NONE Rasa answers with the whole conversation,
                # which only costs time to encode and parse as the conversation grows.
                params=self._params(
                    output_channel="latest", execute_side_effects="true", include_events="NONE"
                ),
                json=events,
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"Rasa timed out: {exc}", ambiguous=True) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"Rasa unreachable: {exc}") from exc
        if resp.status_code == 429:
            raise DeliveryError("Rasa rate limited", retry_after=retry_after_seconds(resp.headers))
        if resp.status_code >= 500:
            raise DeliveryError(f"Rasa answered {resp.status_code}", ambiguous=True)
        if resp.status_code >= 400:
            raise DeliveryError(f"Rasa refused ({resp.status_code}): {resp.text[:300]}")
        return dict(resp.json())

    def tracker(self, sender_id: str) -> dict[str, Any]:
        resp = self._http.get(
            self._url(sender_id, "tracker"), params=self._params(include_events="ALL")
        )
        resp.raise_for_status()
        return dict(resp.json())

    def already_delivered(self, sender_id: str, key: str) -> bool:
        """Whether a bot message with this idempotency key is already in the conversation."""
        try:
            events = self.tracker(sender_id).get("events") or []
        except httpx.HTTPError as exc:
            raise DeliveryError(f"Rasa unreachable: {exc}") from exc
        return any(
            e.get("event") == "bot"
            and ((e.get("metadata") or {}).get(HANDOFF_META) or {}).get("key") == key
            for e in events
        )

    def send_bot_message(
        self,
        sender_id: str,
        text: str,
        key: str,
        *,
        agent: str | None = None,
        resume: bool = False,
        notice: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call: optionally resume the bot, then say `text` to the customer: an agent's
        message (`agent` is their name) or a handoff notice (`notice` from notice_marker)."""
        events: list[dict[str, Any]] = []
        now = time.time()
        if resume:
            events.append({"event": "resume", "timestamp": now})
        marker = {"key": key, "agent": agent or "", **(notice or {})}
        events.append(
            {"event": "bot", "text": text, "timestamp": now, "metadata": {HANDOFF_META: marker}}
        )
        if resume:
            # The bot listens afresh: without this its rules (greet -> utter_greet, ...) would
            # not match the customer's next message, which follows no action_listen.
            events.append({"event": "action", "name": "action_listen", "timestamp": now})
        return self.append_events(sender_id, events)

    def pause(self, sender_id: str) -> None:
        self.append_events(sender_id, [{"event": "pause", "timestamp": time.time()}])

    def resume(self, sender_id: str) -> None:
        self.append_events(sender_id, [{"event": "resume", "timestamp": time.time()}])

    # -- privacy (bot/privacy_channel.py, inside Rasa) ---------------------------------
    def _privacy(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self._http.post(
            f"{self.base_url}/webhooks/privacy/{name}", json=body, headers=headers
        )
        if response.is_error:
            try:
                reason = str(response.json().get("error") or response.text)
            except ValueError:
                reason = response.text
            raise DeliveryError(f"Rasa answered {response.status_code}: {reason[:300]}")
        data = response.json()
        return data if isinstance(data, dict) else {}

    def forget(self, sender_id: str) -> int:
        """Delete the conversation from Rasa's tracker store; returns the events deleted."""
        return int(self._privacy("forget", {"sender_id": sender_id}).get("events") or 0)

    def last_events(self) -> dict[str, float]:
        """Each conversation's newest event time in Rasa's tracker store (Unix seconds)."""
        found = self._privacy("activity", {}).get("last_event") or {}
        return {str(k): float(v) for k, v in found.items()} if isinstance(found, dict) else {}
