"""A stand-in for Rasa's HTTP API (tracker events), recording what the handoff sends."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse


class FakeRasa:
    def __init__(self, token: str = "rasa-secret") -> None:
        self.token = token
        self.posts: list[dict[str, Any]] = []  # {"sender", "params", "events"}
        self.trackers: dict[str, list[dict[str, Any]]] = {}
        self.fail_next: list[int] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def bot_texts(self, sender: str) -> list[str]:
        with self._lock:
            return [e["text"] for e in self.trackers.get(sender, []) if e["event"] == "bot"]

    def events(self, sender: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.trackers.get(sender, []))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # no Nagle/delayed-ACK stalls on loopback

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> tuple[str, dict[str, list[str]]] | None:
                parsed = urlparse(self.path)
                params = parse_qs(parsed.query)
                if params.get("token", [""])[0] != fake.token:
                    self._reply(401, {"message": "bad token"})
                    return None
                parts = parsed.path.split("/")
                return unquote(parts[2]), params

            def do_GET(self) -> None:  # noqa: N802
                route = self._route()
                if route:
                    self._reply(200, {"sender_id": route[0], "events": fake.events(route[0])})

            def _privacy(self, name: str, body: Any) -> None:
                """bot/privacy_channel.py's calls, on the fake's trackers."""
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._reply(401, {"error": "unauthorized"})
                    return
                with fake._lock:
                    if name == "forget":
                        events = fake.trackers.pop(str(body.get("sender_id")), [])
                        self._reply(200, {"events": len(events)})
                    elif name == "activity":
                        last = {
                            sender: max(float(e.get("timestamp") or 0) for e in events)
                            for sender, events in fake.trackers.items()
                            if events
                        }
                        self._reply(200, {"last_event": last})
                    else:
                        self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"[]")
                if self.path.startswith("/webhooks/privacy/"):
                    self._privacy(self.path.rsplit("/", 1)[-1], body)
                    return
                route = self._route()
                if not route:
                    return
                with fake._lock:
                    if fake.fail_next:
                        self._reply(fake.fail_next.pop(0), {"message": "down"})
                        return
                    events = body if isinstance(body, list) else [body]
                    fake.posts.append({"sender": route[0], "params": route[1], "events": events})
                    fake.trackers.setdefault(route[0], []).extend(events)
                self._reply(200, {"sender_id": route[0]})

        return Handler
