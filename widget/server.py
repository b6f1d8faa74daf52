"""The widget's web server (`python -m widget.server`): the widget script, a demo page, and
the widget's small API, on Starlette under uvicorn.

Routes:
  GET  /parley-widget.js      the built widget (widget/dist/, made by `make widget`)
  GET  /config.js             `window.parleyConfig` for the demo page, from the settings
  GET  /api/history/<id>      the conversation's messages (from Rasa's tracker API) and its
                              handoff state (from the handoff service)
  POST /api/csat              a satisfaction rating, stored in the handoff service's ledger
  GET  /                      the demo page (widget/demo/)

Rasa's tracker API needs the Rasa auth token, which must never reach a browser; this server
holds it and returns only what the customer already saw (their messages, the bot's and the
agents' replies) for one session id. The session id is 128 random bits made by the widget:
knowing it is what gives access, like the conversation's own URL.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from parley_shared.endings import GOODBYE_RESPONSES
from parley_shared.rate_limit import limiter_for
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from handoff.asgi import ASGIApp, BodyLimitMiddleware, uvicorn_config
from widget.settings import SettingsError, WidgetSettings, get_settings

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "widget" / "demo"
DIST_DIR = ROOT / "widget" / "dist"
WIDGET_FILES = ("parley-widget.js", "parley-widget.js.map", "parley-widget.js.LEGAL.txt")

# Long, random ids only: short or predictable ones (like REST test senders) are not served.
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
MAX_MESSAGES = 300
MAX_COMMENT = 1000
MAX_BODY = 16_384  # a survey answer; nothing else is posted here
HANDOFF_META = "parley_handoff"
NOTICE_KINDS = ("queued", "joined", "handback", "closed")
HANDOFF_STATES = ("bot", "queued", "agent", "closed")


# The server's settings (widget/settings.py), also by their former name here.
Settings = WidgetSettings


# --- the tracker, reduced to what the customer saw ------------------------------------


def _safe_sources(value: Any) -> list[dict[str, str]]:
    sources: list[dict[str, str]] = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        url = str(item.get("url") or "")
        if not url.startswith(("https://", "http://")):
            url = ""
        title = str(item.get("title") or url or "")[:200]
        if title:
            sources.append({"title": title, "url": url})
    return sources[:10]


def _custom_sources(custom: Any) -> list[dict[str, str]] | None:
    """Citations from the knowledge answerer's custom payload, or None when it has none."""
    if isinstance(custom, dict) and isinstance(custom.get("data"), dict):
        custom = custom["data"]  # the socket.io-friendly `{"data": {...}}` wrapping
    if not isinstance(custom, dict) or custom.get("answer_type") != "kb":
        return None
    return _safe_sources(custom.get("sources"))


def _quick_replies(data: dict[str, Any]) -> list[dict[str, str]]:
    buttons = data.get("quick_replies") or data.get("buttons") or []
    return [
        {"title": str(b.get("title") or ""), "payload": str(b.get("payload") or b.get("title"))}
        for b in buttons
        if isinstance(b, dict) and b.get("title")
    ][:10]


def history_from_tracker(tracker: Mapping[str, Any]) -> dict[str, Any]:
    """Messages (split the way Rasa's socket.io channel splits them) and the latest point
    where the conversation ended (for the satisfaction survey). The handoff state is not
    worked out here: the handoff service keeps it (`handoff_state`)."""
    messages: list[dict[str, Any]] = []
    paused = False
    notices_in_pause = 0
    agent_spoke = False
    end_key = ""
    for event in tracker.get("events") or []:
        kind = event.get("event")
        ts = event.get("timestamp")
        meta = event.get("metadata") or {}
        if kind == "pause":
            paused, notices_in_pause, agent_spoke = True, 0, False
        elif kind == "resume":
            if paused:
                end_key = f"handback:{ts}"
            paused = False
        elif kind == "user":
            text = str(event.get("text") or "")
            if text.startswith("/"):
                text = str(meta.get("shown_as") or "")  # a button, not typed text
            if text:
                messages.append({"role": "user", "text": text, "ts": ts})
                end_key = ""
        elif kind == "bot":
            data = event.get("data") or {}
            handoff = meta.get(HANDOFF_META) if isinstance(meta.get(HANDOFF_META), dict) else None
            role = "bot"
            if handoff is not None:
                role = "agent" if handoff.get("agent") else "notice"
                if role == "agent":
                    agent_spoke = True
                elif paused:
                    # Joined notice first; a notice after the agent spoke (or a second one)
                    # while still paused means the chat was closed without handing back.
                    if agent_spoke or notices_in_pause or handoff.get("kind") == "closed":
                        end_key = f"closed:{ts}"
                    notices_in_pause += 1
            sources = _custom_sources(data.get("custom"))
            text = str(event.get("text") or "").strip()
            if not text:
                # A custom-only message belongs to the bot message before it.
                if sources is not None:
                    for previous in reversed(messages):
                        if previous["role"] != "user":
                            previous["sources"] = sources
                            break
                continue
            parts = text.split("\n\n")
            for i, part in enumerate(parts):
                item: dict[str, Any] = {"role": role, "text": part, "ts": ts}
                if role == "agent":
                    item["agent"] = str(handoff.get("agent")) if handoff else ""
                elif role == "notice" and handoff and handoff.get("kind") in NOTICE_KINDS:
                    item["kind"] = handoff["kind"]
                if i == len(parts) - 1:
                    if sources:
                        item["sources"] = sources
                    replies = _quick_replies(data)
                    if replies:
                        item["quick_replies"] = replies
                messages.append(item)
            if meta.get("utter_action") in GOODBYE_RESPONSES and not paused:
                end_key = f"goodbye:{ts}"
    return {"messages": messages[-MAX_MESSAGES:], "survey": end_key or None}


# --- upstream calls ---------------------------------------------------------------------


class UpstreamError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _call(
    client: httpx.AsyncClient, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    try:
        if body is None:
            response = await client.get(url, headers=headers)
        else:
            response = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise UpstreamError(503, "upstream unreachable") from exc
    if response.is_error:
        raise UpstreamError(502, f"upstream answered {response.status_code}")
    try:
        return response.json() if response.content else None
    except ValueError as exc:
        raise UpstreamError(502, "upstream answered something that is not JSON") from exc


async def fetch_history(
    client: httpx.AsyncClient, settings: WidgetSettings, session_id: str
) -> dict[str, Any]:
    query = urllib.parse.urlencode({"include_events": "ALL", "token": settings.rasa_token})
    sender = urllib.parse.quote(session_id, safe="")
    tracker, handoff = await asyncio.gather(
        _call(client, f"{settings.rasa_url}/conversations/{sender}/tracker?{query}"),
        handoff_state(client, settings, session_id),
    )
    history = history_from_tracker(tracker if isinstance(tracker, dict) else {})
    history["handoff"] = handoff
    return history


async def handoff_state(
    client: httpx.AsyncClient, settings: WidgetSettings, session_id: str
) -> dict[str, str] | None:
    """`{"state": bot | queued | agent | closed, "agent": name}` from the handoff service,
    or None when it cannot say (the widget then keeps what it shows)."""
    if not settings.handoff_url:
        return {"state": "bot", "agent": ""}
    token = settings.handoff_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        found = await _call(
            client, f"{settings.handoff_url}/internal/state", {"sender_id": session_id}, headers
        )
    except UpstreamError:
        return None
    if not isinstance(found, dict) or found.get("state") not in HANDOFF_STATES:
        return None
    return {"state": str(found["state"]), "agent": str(found.get("agent") or "")[:80]}


async def store_csat(
    client: httpx.AsyncClient, settings: WidgetSettings, payload: dict[str, Any]
) -> None:
    if not settings.handoff_url:
        raise UpstreamError(503, "the handoff service (which keeps the ledger) is not configured")
    token = settings.handoff_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    await _call(client, f"{settings.handoff_url}/internal/csat", payload, headers)


def parse_csat(body: bytes) -> dict[str, Any]:
    """The survey answer, checked; ValueError says what is wrong."""
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    session_id = str(data.get("session_id") or "")
    if not SESSION_ID.match(session_id):
        raise ValueError("unknown session")
    score = data.get("score")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ValueError("score must be a whole number from 1 to 5")
    comment = str(data.get("comment") or "").strip()[:MAX_COMMENT]
    return {"sender_id": session_id, "score": score, "comment": comment}


# --- HTTP -------------------------------------------------------------------------------

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _json(status: int, body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def demo_config(settings: WidgetSettings) -> bytes:
    config: dict[str, Any] = {"serverUrl": settings.rasa_public_url, "title": settings.demo_title}
    if settings.demo_language:
        config["language"] = settings.demo_language
    # The demo page may add to this (customer, metadata) before the widget script runs.
    return f"window.parleyConfig = {json.dumps(config)};\n".encode()


def create_app(settings: WidgetSettings, client: httpx.AsyncClient | None = None) -> ASGIApp:
    """The widget server as an ASGI application (uvicorn serves it; tests call it too)."""
    http = client or httpx.AsyncClient(timeout=10)
    config_js = demo_config(settings)
    redis = settings.redis_url or None
    per_session = limiter_for(settings.api_per_session_per_minute, redis, name="widget-session")
    per_address = limiter_for(settings.api_per_address_per_minute, redis, name="widget-address")

    def too_many(request: Request, session_id: str) -> Response | None:
        """429 when this address or this conversation asks too often (the address first, so
        new session ids do not get round it)."""
        address = request.client.host if request.client else "unknown"
        wait = per_address.hit(f"address:{address}") or per_session.hit(f"session:{session_id}")
        if not wait:
            return None
        seconds = max(1, math.ceil(wait))
        unit = "second" if seconds == 1 else "seconds"  # an API error: English only
        return JSONResponse(
            {"error": f"Too many requests; please try again in {seconds} {unit}."},
            status_code=429,
            headers={**NO_STORE, "Retry-After": str(seconds)},
        )

    async def config(_: Request) -> Response:
        return Response(config_js, media_type="text/javascript; charset=utf-8", headers=NO_STORE)

    async def history(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        if not SESSION_ID.match(session_id):
            return _json(404, {"error": "unknown session"})
        refused = too_many(request, session_id)
        if refused is not None:
            return refused
        try:
            return _json(200, await fetch_history(http, settings, session_id))
        except UpstreamError as exc:
            return _json(exc.status, {"error": str(exc)})

    async def csat(request: Request) -> Response:
        try:
            payload = parse_csat(await request.body())
        except ValueError as exc:
            return _json(400, {"error": str(exc)})
        refused = too_many(request, payload["sender_id"])
        if refused is not None:
            return refused
        try:
            await store_csat(http, settings, payload)
        except UpstreamError as exc:
            return _json(exc.status, {"error": str(exc)})
        return _json(200, {"ok": True})

    async def widget_file(request: Request) -> Response:
        name = request.url.path.lstrip("/")
        file = DIST_DIR / name
        if not file.is_file():
            return Response(
                b"/* The widget is not built yet: run `make widget`. */\n",
                status_code=503,
                media_type="text/javascript; charset=utf-8",
            )
        kind = "application/json" if name.endswith(".map") else "text/javascript; charset=utf-8"
        if name.endswith(".txt"):
            kind = "text/plain; charset=utf-8"
        return Response(
            file.read_bytes(),
            media_type=kind,
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    routes = [
        Route("/config.js", config),
        Route("/api/history/{session_id:path}", history),
        Route("/api/csat", csat, methods=["POST"]),
        *[Route(f"/{name}", widget_file) for name in WIDGET_FILES],
        Mount("/", StaticFiles(directory=DEMO_DIR, html=True)),
    ]
    app = Starlette(routes=routes)
    origins = list(settings.allowed_origins)
    # The widget runs on the customers' sites: their pages call /api from another origin.
    cors: ASGIApp = CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "Accept"],
        max_age=600,
    )
    return BodyLimitMiddleware(cors, MAX_BODY)


def main() -> None:
    try:
        settings = get_settings()
    except SettingsError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"Widget demo page on http://{settings.host}:{settings.port}/", flush=True)
    uvicorn.Server(uvicorn_config(create_app(settings), settings.host, settings.port)).run()


if __name__ == "__main__":
    main()
