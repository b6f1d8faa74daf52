"""Start the real stack (Rasa server, action server, other services) for a test.

    with start_stack() as stack:
        replies = stack.send("customer-1", "hi")

Each stack gets free ports and its own state folder; the trained model is shared
(trained once, cached by content hash like `make run`).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scripts.stack import Settings, Stack, ensure_model, free_port

UNLIMITED_RATES = {
    "PARLEY_RATE_PER_CONVERSATION": "0",
    "PARLEY_RATE_PER_ADDRESS": "0",
    "WIDGET_API_RATE_PER_SESSION": "0",
    "WIDGET_API_RATE_PER_ADDRESS": "0",
}


@dataclasses.dataclass
class RunningStack:
    stack: Stack
    state_dir: Path

    @property
    def rasa_url(self) -> str:
        return self.stack.rasa_url

    @property
    def token(self) -> str:
        return self.stack.token

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    def urls(self, name: str) -> list[str]:
        """The URLs of every replica of a service ("rasa", "handoff", "actions")."""
        return [
            s.url for s in self.stack.services if s.name == name or s.name.startswith(f"{name}-")
        ]

    def send(
        self,
        sender_id: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        rasa_url: str | None = None,
    ) -> list[dict[str, Any]]:
        """One customer message over Rasa's REST channel (to `rasa_url`, else the first
        Rasa server); returns the bot's replies."""
        body: dict[str, Any] = {"sender": sender_id, "message": text}
        if metadata is not None:
            body["metadata"] = metadata
        return _request("POST", f"{rasa_url or self.rasa_url}/webhooks/rest/webhook", body)

    def tracker(self, sender_id: str) -> dict[str, Any]:
        """The conversation as Rasa stores it (HTTP API, with the auth token)."""
        query = urllib.parse.urlencode({"token": self.token})
        sender = urllib.parse.quote(sender_id, safe="")
        return _request("GET", f"{self.rasa_url}/conversations/{sender}/tracker?{query}")


def _request(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


@contextmanager
def start_stack(
    extra_env: dict[str, str] | None = None, replicas: int = 1
) -> Iterator[RunningStack]:
    """Train if needed, start everything on free ports, stop it all afterwards. With
    `replicas`, that many Rasa servers, action servers and handoff services, on the servers
    named by PARLEY_DATABASE_URL, REDIS_URL and RABBITMQ_URL in `extra_env`."""
    with tempfile.TemporaryDirectory(prefix="parley-stack-") as tmp:
        base = Settings.from_env({})
        settings = dataclasses.replace(
            base,
            state_dir=Path(tmp),
            rasa_port=free_port(),
            actions_port=free_port(),
            web_port=free_port(),
            handoff_port=free_port(),
            handoff_internal_port=free_port(),
            rasa_token="test-token",
            database_url=(extra_env or {}).get("PARLEY_DATABASE_URL", ""),
            redis_url=(extra_env or {}).get("REDIS_URL", ""),
            rabbitmq_url=(extra_env or {}).get("RABBITMQ_URL", ""),
            # Every test client is 127.0.0.1 and sends as fast as it can: the rate limits
            # are off unless a test (tests/integration/test_channel_guard.py) sets them.
            extra_env={**UNLIMITED_RATES, **(extra_env or {})},
        )
        model = ensure_model(settings)
        stack = Stack(settings, replicas=replicas)
        try:
            stack.start(model)
            yield RunningStack(stack, Path(tmp))
        finally:
            stack.stop()
