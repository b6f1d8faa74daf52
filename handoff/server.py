"""`python -m handoff serve`: the handoff service process.

One process runs: two HTTP listeners on Starlette under uvicorn (the public one with
`/slack/events` for Slack and `/report`; the internal API for the action server, the widget
server and the console on a loopback-only one), the outbox worker, the follower of Rasa's
event broker, the idle sweeper and, when SLACK_APP_TOKEN is set, the Socket Mode connection."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handoff.asgi import ASGIApp, BodyLimitMiddleware, ThreadedServer
from handoff.db import Database
from handoff.event_broker import follower_for
from handoff.outbox import OutboxWorker
from handoff.rasa_client import RasaClient
from handoff.service import HandoffError, HandoffService
from handoff.settings import Settings

log = logging.getLogger(__name__)

# Slack's payloads (a Resolve form, an event) are a few KB; 1 MB is plenty. Handoff packets
# on the internal API carry the transcript: allow more.
PUBLIC_MAX_BODY = 1_000_000
INTERNAL_MAX_BODY = 5_000_000


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
        self.tail = follower_for(
            settings.event_broker_url, self.db, self.service, poll_seconds=settings.poll_seconds
        )
        settings.check_exposure()
        self.public = ThreadedServer(
            BodyLimitMiddleware(self._public_app(), PUBLIC_MAX_BODY), settings.host, settings.port
        )
        try:
            self.internal_http = ThreadedServer(
                BodyLimitMiddleware(self._internal_app(), INTERNAL_MAX_BODY),
                settings.internal_host,
                settings.internal_port,
            )
        except OSError:
            self.public.sock.close()
            raise
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socket_mode: Any = None

    @property
    def port(self) -> int:
        """The public listener's port (Slack events, /report)."""
        return self.public.port

    @property
    def internal_port(self) -> int:
        return self.internal_http.port

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
        self.public.start()
        self.internal_http.start()
        self._threads = [sweeper]
        if self.settings.socket_mode and self.slack_app is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            self._socket_mode = SocketModeHandler(self.slack_app, self.settings.slack_app_token)
            self._socket_mode.connect()
        self.worker.wake()

    def stop(self) -> None:
        self._stop.set()
        if self._socket_mode is not None:
            self._socket_mode.close()
        self.public.stop()
        self.internal_http.stop()
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
            f"Handoff service on http://{self.settings.host}:{self.port} ({self.mode()} mode), "
            f"internal API on http://{self.settings.internal_host}:{self.internal_port}",
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
    async def _healthz(self, _: Request) -> Response:
        pending = await asyncio.to_thread(self.service.pending_outbox)
        return JSONResponse({"ok": True, "mode": self.mode(), "pending_outbox": pending})

    def _public_app(self) -> ASGIApp:
        async def slack_events(request: Request) -> Response:
            if self.slack_app is None or not self.settings.slack_signing_secret:
                return JSONResponse({"error": "Slack HTTP events are not configured"}, 404)
            body = await request.body()
            # Bolt checks the signature first; its listeners block (database, Web API calls).
            response = await asyncio.to_thread(
                self.slack_app.dispatch, to_bolt_request(request, body)
            )
            return to_starlette_response(response)

        async def report(request: Request) -> Response:
            status, body, headers = await asyncio.to_thread(
                self.report, request.headers.get("authorization", ""), request.url.query
            )
            headers.setdefault("Content-Type", "application/json")
            return Response(body, status_code=status, headers=headers)

        return Starlette(
            routes=[
                Route("/healthz", self._healthz),
                Route("/slack/events", slack_events, methods=["POST"]),
                Route("/report", report),
            ]
        )

    def _internal_app(self) -> ASGIApp:
        async def internal(request: Request) -> Response:
            token = self.settings.internal_token
            given = request.headers.get("authorization", "").encode()
            if token and not hmac.compare_digest(given, f"Bearer {token}".encode()):
                return JSONResponse({"error": "unauthorized"}, 401)
            try:
                data = json.loads(await request.body() or b"{}")
                if not isinstance(data, dict):
                    raise TypeError("expected a JSON object")
                status, result = await asyncio.to_thread(self.internal, request.url.path, data)
            except (ValueError, KeyError, TypeError) as exc:
                status, result = 400, {"error": f"bad request: {exc}"}
            except HandoffError as exc:
                status, result = 409, {"error": str(exc)}
            return JSONResponse(result, status)

        return Starlette(
            routes=[
                Route("/healthz", self._healthz),
                Route("/internal/{name}", internal, methods=["POST"]),
            ]
        )

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
            result = self.service.open_requested(str(data["sender_id"]), data)
            return 200, {"handoff_id": result.handoff_id, "created": result.created}
        if path == "/internal/state":
            return 200, self.service.state(str(data["sender_id"]))
        if path == "/internal/csat":
            self.service.record_csat(
                str(data["sender_id"]), int(data["score"]), str(data.get("comment") or "")
            )
            return 200, {"ok": True}
        if path == "/internal/feedback":
            stored = self.service.record_feedback_from(str(data["sender_id"]), data)
            return 200, {"ok": True, "stored": stored}
        return 404, {"error": "not found"}
