"""What every HTTP server of ours shares: request body and time limits, and uvicorn set up
with timeouts, startable in a thread (tests, `make run`) or in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A request body must arrive within this many seconds of the headers: a client that trickles
# its body (slowloris) must not hold a connection, nor reach the Slack signature check.
BODY_SECONDS = 10.0


class BodyLimitMiddleware:
    """Reads the whole request body first, refusing one over `max_bytes` (413) or slower than
    `seconds` (408), so the application only ever sees complete, bounded bodies. (Our
    servers take small JSON and form posts; none streams an upload.)"""

    def __init__(self, app: ASGIApp, max_bytes: int, seconds: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _refuse(send, 413, f"The request body is over {self.max_bytes} bytes.")
            return
        seconds = BODY_SECONDS if self.seconds is None else self.seconds
        deadline = time.monotonic() + seconds
        body = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(remaining, 0.001))
            except TimeoutError:
                await _refuse(send, 408, "The request body took too long to arrive.")
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await _refuse(send, 413, f"The request body is over {self.max_bytes} bytes.")
                return
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as usual

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # what is left of a refused body is not read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def uvicorn_config(app: ASGIApp, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    """uvicorn with the limits a server on the internet needs and no access log noise."""
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "timeout_keep_alive": 5,
        # Headers past this size are refused before the application sees the request.
        "h11_max_incomplete_event_size": 16 * 1024,
        "limit_concurrency": 1000,
        "server_header": False,
        "lifespan": "off",
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


class ThreadedServer:
    """uvicorn in a background thread, on an already bound socket (port 0 works)."""

    def __init__(self, app: ASGIApp, host: str, port: int, **overrides: Any) -> None:
        self.config = uvicorn_config(app, host, port, **overrides)
        self.server = uvicorn.Server(self.config)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(512)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self, timeout: float = 10.0) -> None:
        # (uvicorn captures signals only in the main thread: the owner stops us with stop().)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP server on port {self.port} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self.sock.close()
