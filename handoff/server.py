"""`python -m handoff serve`: the handoff service process.

One process runs: the HTTP endpoint (internal API for the action server and the console,
`/slack/events` for Slack), the outbox worker, the Rasa event tail, the idle sweeper and,
when SLACK_APP_TOKEN is set, the Socket Mode connection."""

from __future__ import annotations

import hmac
import json
import logging
import signal
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.request import BoltRequest

from handoff.db import Database
from handoff.outbox import OutboxWorker
from handoff.rasa_client import RasaClient
from handoff.rasa_events import RasaEventTail
from handoff.service import HandoffError, HandoffService
from handoff.settings import Settings

log = logging.getLogger(__name__)


class HandoffServer:
    """Everything `serve` runs, startable and stoppable in-process (tests use it too)."""

    def __init__(self, settings: Settings) -> None:
        settings.check_slack()
        self.settings = settings
        self.db = Database(settings.db_url)
        self.rasa = RasaClient(settings.rasa_url, settings.rasa_token)
        self.slack_app: App | None = None
        slack_delivery = None
        if settings.slack_enabled:
            from handoff.slack_delivery import SlackDelivery, make_web_client

            client = make_web_client(settings.slack_bot_token, settings.slack_api_url)
            slack_delivery = SlackDelivery(client, settings.slack_channel)
        self.worker = OutboxWorker(
            self.db,
            self.rasa,
            slack_delivery,
            base_delay=settings.retry_base_seconds,
            max_delay=settings.retry_max_seconds,
            # Woken at once by every local change and by /internal/wake; the poll only
            # catches retries that fall due and rows written by other processes.
            poll_seconds=max(settings.poll_seconds * 5, 0.25),
        )
        self.service = HandoffService(self.db, settings.slack_channel, wake=self.worker.wake)
        if settings.slack_enabled:
            from handoff.app import build_app
            from handoff.slack_delivery import make_web_client

            self.slack_app = build_app(
                settings,
                self.service,
                make_web_client(settings.slack_bot_token, settings.slack_api_url),
            )
        self.tail = (
            RasaEventTail(
                settings.rasa_events_db_url,
                self.db,
                self.service,
                poll_seconds=settings.poll_seconds,
            )
            if settings.rasa_events_db_url
            else None
        )
        self.httpd = ThreadingHTTPServer((settings.host, settings.port), self._handler())
        self.httpd.daemon_threads = True
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socket_mode: Any = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def mode(self) -> str:
        if not self.settings.slack_enabled:
            return "console"
        return "slack-socket-mode" if self.settings.socket_mode else "slack-http"

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        self.worker.start()
        if self.tail:
            self.tail.start()
        sweeper = threading.Thread(target=self._sweep_loop, name="idle-sweep", daemon=True)
        sweeper.start()
        http = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)
        http.start()
        self._threads = [sweeper, http]
        if self.settings.socket_mode and self.slack_app is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            self._socket_mode = SocketModeHandler(self.slack_app, self.settings.slack_app_token)
            self._socket_mode.connect()
        self.worker.wake()

    def stop(self) -> None:
        self._stop.set()
        if self._socket_mode is not None:
            self._socket_mode.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.tail:
            self.tail.stop()
        self.worker.stop()
        self.rasa.close()
        self.db.dispose()

    def serve_forever(self) -> None:
        done = threading.Event()

        def _signal(_sig: int, _frame: Any) -> None:
            done.set()

        signal.signal(signal.SIGINT, _signal)
        signal.signal(signal.SIGTERM, _signal)
        self.start()
        log.info(
            "handoff service listening on http://%s:%d (%s mode)",
            self.settings.host,
            self.port,
            self.mode(),
        )
        print(
            f"Handoff service on http://{self.settings.host}:{self.port} ({self.mode()} mode)",
            flush=True,
        )
        done.wait()
        self.stop()

    def _sweep_loop(self) -> None:
        idle = timedelta(minutes=self.settings.idle_minutes)
        while not self._stop.wait(min(60.0, max(1.0, idle.total_seconds() / 4))):
            try:
                self.service.sweep_idle(idle)
            except Exception:  # noqa: BLE001
                log.exception("idle sweep failed")

    # -- HTTP -----------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
            # algorithm and the client's delayed ACK add ~40 ms to every response.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("http: " + format, *args)

            def _send(self, status: int, body: Any, headers: dict[str, Any] | None = None) -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                sent_type = False
                for key, values in (headers or {}).items():
                    for value in values if isinstance(values, list | tuple) else [values]:
                        self.send_header(key, value)
                        sent_type |= key.lower() == "content-type"
                if not sent_type:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> str:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length).decode("utf-8") if length else ""

            def do_GET(self) -> None:  # noqa: N802
                path, _, query = self.path.partition("?")
                if path == "/report":
                    self._send(*server.report(self.headers.get("Authorization") or "", query))
                    return
                if path == "/healthz":
                    self._send(
                        200,
                        {
                            "ok": True,
                            "mode": server.mode(),
                            "pending_outbox": server.service.pending_outbox(),
                        },
                    )
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                path, _, query = self.path.partition("?")
                body = self._body()
                if path == "/slack/events":
                    if server.slack_app is None or not server.settings.slack_signing_secret:
                        self._send(404, {"error": "Slack HTTP events are not configured"})
                        return
                    resp = server.slack_app.dispatch(
                        BoltRequest(body=body, query=query, headers=dict(self.headers.items()))
                    )
                    self._send(resp.status, resp.body, resp.headers)
                    return
                if path.startswith("/internal/"):
                    token = server.settings.internal_token
                    given = (self.headers.get("Authorization") or "").encode()
                    if token and not hmac.compare_digest(given, f"Bearer {token}".encode()):
                        self._send(401, {"error": "unauthorized"})
                        return
                    try:
                        status, result = server.internal(path, json.loads(body or "{}"))
                    except (ValueError, KeyError, TypeError) as exc:
                        status, result = 400, {"error": f"bad request: {exc}"}
                    except HandoffError as exc:
                        status, result = 409, {"error": str(exc)}
                    self._send(status, result)
                    return
                self._send(404, {"error": "not found"})

        return Handler

    def report(self, authorization: str, query: str) -> tuple[int, str, dict[str, str]]:
        """GET /report: the support lead's report page (or `format=json`) for `since=7d` or
        `from=YYYY-MM-DD&to=YYYY-MM-DD`. It needs the internal token, as a Bearer header or
        as `token=` in the link (so a browser can open it)."""
        params = {key: values[-1] for key, values in parse_qs(query).items()}
        text = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
        token = self.settings.internal_token
        if not token:
            return (
                403,
                "The report is behind the internal token, and none is set: set "
                "HANDOFF_INTERNAL_TOKEN for the handoff service (make run does), then open "
                "/report?token=<that token>.\n",
                text,
            )
        given = authorization.removeprefix("Bearer ").strip() or params.get("token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return (
                401,
                "Wrong or missing token: open /report?token=<HANDOFF_INTERNAL_TOKEN>.\n",
                text,
            )
        from handoff.report import URL_NAMES, ReportError, build_report, resolve_period

        try:
            period = resolve_period(
                params.get("since"), params.get("from"), params.get("to"), names=URL_NAMES
            )
        except ReportError as exc:
            return 400, f"{exc}\n", text
        report = build_report(self.db, period)
        headers = {
            "Cache-Control": "no-store",
            # The token may be in the link: never send it on, never let the page load anything.
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        }
        if params.get("format") == "json":
            return 200, json.dumps(report, ensure_ascii=False), headers
        from handoff.report_html import CSP, render_html

        headers.update({"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CSP})
        return 200, render_html(report), headers

    def internal(self, path: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Internal API for the action server, the console and the widget backend."""
        if path == "/internal/wake":
            self.worker.wake()
            return 200, {"ok": True}
        if path == "/internal/handoffs":
            result = self.service.open_handoff(str(data["sender_id"]), dict(data["packet"]))
            return 200, {"handoff_id": result.handoff_id, "created": result.created}
        if path == "/internal/csat":
            self.service.record_csat(
                str(data["sender_id"]), int(data["score"]), str(data.get("comment") or "")
            )
            return 200, {"ok": True}
        if path == "/internal/feedback":
            confidence = data.get("confidence")
            self.service.record_feedback(
                str(data["sender_id"]),
                str(data["verdict"]),
                question=str(data.get("question") or ""),
                article_path=str(data.get("article_path") or ""),
                article_version=str(data.get("article_version") or ""),
                answer_type=str(data.get("answer_type") or "kb"),
                confidence=float(confidence) if confidence is not None else None,
            )
            return 200, {"ok": True}
        return 404, {"error": "not found"}
