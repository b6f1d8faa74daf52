"""A local Slack Socket Mode endpoint for tests, in the spirit of bolt-python's own.

The mock Web API answers `apps.connections.open` with this server's ws:// URL; the app
connects, gets a `hello`, and the test pushes envelopes (events, interactions) to it and
reads the acknowledgements the app sends back."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.handoff.polling import wait_for


class MockSocketMode:
    def __init__(self) -> None:
        self.acks: dict[str, dict[str, Any]] = {}  # envelope_id -> the app's ack
        self.paths: list[str] = []
        self._clients: list[ServerConnection] = []
        self._lock = threading.Lock()
        self._server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=test"

    def start(self) -> MockSocketMode:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def __enter__(self) -> MockSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the Socket Mode protocol ------------------------------------------------------
    def _session(self, ws: ServerConnection) -> None:
        with self._lock:
            self._clients.append(ws)
            self.paths.append(ws.request.path if ws.request else "")
        ws.send(
            json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}})
        )
        try:
            for raw in ws:
                message = json.loads(raw)
                if "envelope_id" in message:
                    with self._lock:
                        self.acks[message["envelope_id"]] = message
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._clients.remove(ws)

    def connected(self) -> bool:
        with self._lock:
            return bool(self._clients)

    def push(self, kind: str, payload: dict[str, Any]) -> str:
        """Send one envelope ("events_api", "interactive", ...) to the connected app;
        returns its envelope_id."""
        envelope_id = str(uuid.uuid4())
        body = json.dumps(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind == "interactive",
            }
        )
        with self._lock:
            client = self._clients[-1]
        client.send(body)
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        def ack() -> dict[str, Any] | None:
            with self._lock:
                return self.acks.get(envelope_id)

        return wait_for(ack, timeout)
