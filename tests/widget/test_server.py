"""The widget server over HTTP: its API, CORS, and the limits on what a client may send."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from handoff.asgi import ThreadedServer
from widget.server import MAX_BODY, Settings, create_app

SESSION = "s" * 40


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {"RASA_URL": "http://rasa.test", "HANDOFF_URL": "http://handoff.test", **env}
    )


def upstream(calls: list[httpx.Request]) -> httpx.AsyncClient:
    """Rasa and the handoff service, as far as the widget server talks to them."""

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.host == "rasa.test":
            events = [{"event": "user", "text": "hi", "timestamp": 1.0}]
            return httpx.Response(200, json={"events": events})
        if request.url.path == "/internal/state":
            return httpx.Response(200, json={"state": "agent", "agent": "Ana"})
        return httpx.Response(200, json={"ok": True})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def test_history_reads_rasa_with_the_token_the_browser_never_sees() -> None:
    calls: list[httpx.Request] = []
    app = create_app(settings(RASA_TOKEN="rasa-secret"), upstream(calls))
    with TestClient(app) as client:
        reply = client.get(f"/api/history/{SESSION}")
        assert reply.status_code == 200
        assert reply.json()["messages"] == [{"role": "user", "text": "hi", "ts": 1.0}]
        assert "rasa-secret" not in reply.text
        assert client.get("/api/history/too-short").status_code == 404
    assert calls[0].url.params["token"] == "rasa-secret"


def test_the_handoff_state_comes_from_the_handoff_service() -> None:
    """Not from replaying the tracker: the handoff service keeps the state, and when it
    cannot be asked the widget is told so (null) and keeps what it shows."""
    calls: list[httpx.Request] = []
    app = create_app(settings(HANDOFF_INTERNAL_TOKEN="t0ken"), upstream(calls))
    with TestClient(app) as client:
        assert client.get(f"/api/history/{SESSION}").json()["handoff"] == {
            "state": "agent",
            "agent": "Ana",
        }
    [state] = [c for c in calls if c.url.path == "/internal/state"]
    assert json.loads(state.content) == {"sender_id": SESSION}
    assert state.headers["Authorization"] == "Bearer t0ken"

    def down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "rasa.test":
            return httpx.Response(200, json={"events": []})
        raise httpx.ConnectError("refused")

    app = create_app(settings(), httpx.AsyncClient(transport=httpx.MockTransport(down)))
    with TestClient(app) as client:
        reply = client.get(f"/api/history/{SESSION}")
        assert reply.status_code == 200 and reply.json()["handoff"] is None


def test_csat_goes_to_the_ledger_with_the_internal_token() -> None:
    calls: list[httpx.Request] = []
    app = create_app(settings(HANDOFF_INTERNAL_TOKEN="t0ken"), upstream(calls))
    with TestClient(app) as client:
        ok = client.post("/api/csat", json={"session_id": SESSION, "score": 5, "comment": "x"})
        assert ok.status_code == 200
        bad = client.post("/api/csat", json={"session_id": SESSION, "score": 9})
        assert bad.status_code == 400 and "1 to 5" in bad.json()["error"]
    [call] = calls
    assert call.url.path == "/internal/csat" and call.headers["Authorization"] == "Bearer t0ken"
    assert json.loads(call.content) == {"sender_id": SESSION, "score": 5, "comment": "x"}


def test_oversized_bodies_are_refused_before_they_are_read() -> None:
    calls: list[httpx.Request] = []
    with TestClient(create_app(settings(), upstream(calls))) as client:
        reply = client.post("/api/csat", content=b"x" * (MAX_BODY + 1))
    assert reply.status_code == 413 and "bytes" in reply.json()["error"]
    assert calls == []


@pytest.mark.parametrize(
    ("allowed", "origin", "expected"),
    [
        ("*", "https://shop.example", "*"),
        ("https://shop.example", "https://shop.example", "https://shop.example"),
        ("https://shop.example", "https://evil.example", None),
    ],
)
def test_cors_follows_the_allowed_origins(allowed: str, origin: str, expected: str | None) -> None:
    app = create_app(settings(WIDGET_ALLOWED_ORIGINS=allowed), upstream([]))
    with TestClient(app) as client:
        preflight = client.options(
            "/api/csat",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
    assert preflight.headers.get("access-control-allow-origin") == expected


def test_the_demo_page_and_config_are_served() -> None:
    with TestClient(create_app(settings(WIDGET_TITLE="Shop help"), upstream([]))) as client:
        page = client.get("/")
        assert page.status_code == 200 and "/parley-widget.js" in page.text
        config = client.get("/config.js")
    assert config.headers["content-type"].startswith("text/javascript")
    assert '"title": "Shop help"' in config.text


def raw_request(port: int, data: bytes, wait: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait + 10) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_body_that_trickles_in_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client announcing a body and never sending it does not hold the server."""
    import handoff.asgi

    monkeypatch.setattr(handoff.asgi, "BODY_SECONDS", 0.5)
    app: Any = create_app(settings(), upstream([]))
    server = ThreadedServer(app, "127.0.0.1", 0)
    server.start()
    try:
        started = time.monotonic()
        head = (
            b"POST /api/csat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        reply = raw_request(server.port, head, 5)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert time.monotonic() - started < 5
    finally:
        server.stop()


def test_api_requests_are_rate_limited_per_session_and_per_address() -> None:
    calls: list[httpx.Request] = []
    app = create_app(
        settings(WIDGET_API_RATE_PER_SESSION="3", WIDGET_API_RATE_PER_ADDRESS="7"), upstream(calls)
    )
    with TestClient(app) as client:
        statuses = [client.get(f"/api/history/{SESSION}").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = client.get(f"/api/history/{SESSION}")
        wait = int(refused.headers["Retry-After"])
        assert wait > 1  # 3 a minute: about 20 s
        assert refused.json()["error"] == f"Too many requests; please try again in {wait} seconds."
        # A fresh session id does not get round the address's own limit (7: five so far).
        others = [client.get(f"/api/history/{'t' * 39}{i}").status_code for i in range(3)]
        assert others == [200, 200, 429]
    assert len([c for c in calls if c.url.host == "rasa.test"]) == 5  # refused: never sent on


def test_a_wait_of_one_second_is_one_second_not_one_seconds() -> None:
    app = create_app(
        settings(WIDGET_API_RATE_PER_SESSION="90", WIDGET_API_RATE_PER_ADDRESS="1000"),
        upstream([]),
    )
    with TestClient(app) as client:
        for _ in range(200):  # 90 at once, then one every 0.67 s
            refused = client.get(f"/api/history/{SESSION}")
            if refused.status_code == 429:
                break
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert refused.json()["error"] == "Too many requests; please try again in 1 second."
