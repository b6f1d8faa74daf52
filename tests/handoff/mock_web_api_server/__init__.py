"""A local Slack Web API for tests, in the spirit of bolt-python's own test server.

It implements the methods the handoff app calls, records every request, can be told to
fail (e.g. 503, then 429 with Retry-After) and keeps posted messages per channel/thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.handoff.polling import wait_for

BOT_USER_ID = "UBOT0001"
USERS = {
    "U_ANA": {"real_name": "Ana Lopez", "display_name": "Ana"},
    "U_BO": {"real_name": "Bo Berg", "display_name": "Bo"},
}


# What the real Slack refuses (api.slack.com/reference/block-kit/blocks): the whole message
# is rejected with invalid_blocks.
SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
CONTEXT_TEXT_LIMIT = 3000
MAX_BLOCKS = 50
MESSAGE_TEXT_LIMIT = 40_000


def block_problem(blocks: Any) -> str:
    """Why Slack would refuse these blocks, or "" if it would take them."""
    if not blocks:
        return ""
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
    for i, block in enumerate(blocks):
        kind = block.get("type")
        texts = []
        if kind in ("section", "header") and isinstance(block.get("text"), dict):
            limit = HEADER_TEXT_LIMIT if kind == "header" else SECTION_TEXT_LIMIT
            texts.append((block["text"].get("text", ""), limit))
        if kind == "context":
            texts += [(e.get("text", ""), CONTEXT_TEXT_LIMIT) for e in block.get("elements", [])]
        for text, limit in texts:
            if len(text) > limit:
                return f"must be less than {limit + 1} characters [json-pointer:/blocks/{i}/text]"
    return ""


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "<html>Service Unavailable</html>"
    # Slack did the work (e.g. stored the message) and only the answer failed.
    stored: bool = False


class MockSlack:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.views: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.failures: dict[str, list[Failure]] = {}
        self.on_request: Callable[[str, dict[str, Any]], None] | None = None
        self.socket_mode_url = ""  # what apps.connections.open hands out (ws://...)
        self.tokens: list[tuple[str, str]] = []  # (method, bearer token) per request
        self._lock = threading.Lock()
        self._ts = 1_700_000_000.0
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/"

    def start(self) -> MockSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> MockSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests ------------------------------------------------------------
    def fail_next(self, method: str, *failures: Failure) -> None:
        with self._lock:
            self.failures.setdefault(method, []).extend(failures)

    def calls(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [args for m, args in self.requests if m == method]

    def top_level(self, channel: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages.get(channel, []) if not m.get("thread_ts")]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages.get(channel, []) if m.get("thread_ts") == ts]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        return wait_for(predicate, timeout)

    def add_reply(self, channel: str, thread_ts: str, user: str, text: str) -> str:
        """A message a person wrote in a thread (the bot cannot delete it)."""
        with self._lock:
            ts = self._next_ts()
            self.messages.setdefault(channel, []).append(
                {"ts": ts, "text": text, "user": user, "thread_ts": thread_ts}
            )
            return ts

    # -- the Web API ------------------------------------------------------------------
    def _next_ts(self) -> str:
        self._ts += 1
        return f"{self._ts:.6f}"

    def handle(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append((method, args))
            queue = self.failures.get(method)
            if queue:
                f = queue.pop(0)
                if f.stored:
                    self._ok(method, args)
                return f.status, f.headers, f.body
        if self.on_request:
            self.on_request(method, args)
        with self._lock:
            return 200, {}, self._ok(method, args)

    def _ok(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER_ID,
                "bot_id": "BBOT",
                "team_id": "T1",
                "user": "parley",
                "team": "Test",
                "url": "https://test.slack.com/",
            }
        if method == "apps.connections.open":
            if not self.socket_mode_url:
                return {"ok": False, "error": "not_allowed_token_type"}
            return {"ok": True, "url": self.socket_mode_url}
        if method in ("chat.postMessage", "chat.update"):
            if problem := block_problem(_json(args.get("blocks"))):
                return {"ok": False, "error": "invalid_blocks", "errors": [problem]}
            if len(args.get("text") or "") > MESSAGE_TEXT_LIMIT:
                return {"ok": False, "error": "msg_too_long"}
        if method == "chat.delete":
            channel, ts = args.get("channel", ""), args.get("ts", "")
            for msg in self.messages.get(channel, []):
                if msg["ts"] == ts:
                    if msg.get("user") != BOT_USER_ID:
                        return {"ok": False, "error": "cant_delete_message"}
                    self.messages[channel].remove(msg)
                    return {"ok": True, "channel": channel, "ts": ts}
            return {"ok": False, "error": "message_not_found"}
        if method == "chat.postMessage":
            channel = args.get("channel", "")
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            ts = self._next_ts()
            msg = {
                "ts": ts,
                "text": args.get("text", ""),
                "user": BOT_USER_ID,
                "bot_id": "BBOT",
                "blocks": _json(args.get("blocks")),
                "thread_ts": args.get("thread_ts"),
                "metadata": _json(args.get("metadata")),
            }
            self.messages.setdefault(channel, []).append(msg)
            return {"ok": True, "channel": channel, "ts": ts, "message": msg}
        if method == "chat.update":
            channel, ts = args.get("channel", ""), args.get("ts", "")
            for msg in self.messages.get(channel, []):
                if msg["ts"] == ts:
                    msg["text"] = args.get("text", msg["text"])
                    msg["blocks"] = _json(args.get("blocks"))
                    return {"ok": True, "channel": channel, "ts": ts}
            return {"ok": False, "error": "message_not_found"}
        if method == "chat.postEphemeral":
            self.ephemeral.append(args)
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "views.open":
            if not args.get("trigger_id"):
                return {"ok": False, "error": "invalid_trigger_id"}
            view = _json(args.get("view"))
            self.views.append(view)
            return {"ok": True, "view": {"id": f"V{len(self.views)}", **view}}
        if method == "users.info":
            user = USERS.get(args.get("user", ""))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {
                "ok": True,
                "user": {
                    "id": args["user"],
                    "name": user["display_name"].lower(),
                    "real_name": user["real_name"],
                    "profile": dict(user),
                },
            }
        if method == "conversations.history":
            msgs = [
                m for m in self.messages.get(args.get("channel", ""), []) if not m.get("thread_ts")
            ]
            return {"ok": True, "messages": list(reversed(msgs)), "has_more": False}
        if method == "conversations.replies":
            channel, ts = args.get("channel", ""), args.get("ts", "")
            msgs = [
                m
                for m in self.messages.get(channel, [])
                if m["ts"] == ts or m.get("thread_ts") == ts
            ]
            limit = int(args.get("limit") or len(msgs) or 1)
            return {"ok": True, "messages": msgs[:limit], "has_more": len(msgs) > limit}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # no Nagle/delayed-ACK stalls on loopback

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _args(self) -> dict[str, Any]:
                parsed = urlparse(self.path)
                args: dict[str, Any] = dict(parse_qsl(parsed.query))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if raw:
                    if "json" in (self.headers.get("Content-Type") or ""):
                        args.update(json.loads(raw))
                    else:
                        args.update(dict(parse_qsl(raw)))
                return args

            def _serve(self) -> None:
                method = urlparse(self.path).path.rsplit("/", 1)[-1]
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                with mock._lock:
                    mock.tokens.append((method, token))
                status, headers, body = mock.handle(method, self._args())
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header(
                    "Content-Type", "application/json" if status == 200 else "text/html"
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve  # noqa: N815
            do_POST = _serve  # noqa: N815

        return Handler


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
