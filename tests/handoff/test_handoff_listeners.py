"""The handoff service's two listeners: Slack and the report in public, the internal API on
loopback only; limits on what a client may send; refusing unsafe settings."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from handoff.server import PUBLIC_MAX_BODY, HandoffServer
from handoff.settings import Settings, SettingsError
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.mock_web_api_server import MockSlack
from tests.handoff.slack_helpers import CHANNEL, running, settings_for, signed_post


def test_the_internal_api_is_not_on_the_public_listener(tmp_path: Path, rasa: FakeRasa) -> None:
    with running(settings_for(tmp_path, None, rasa, HANDOFF_INTERNAL_TOKEN="tok")) as server:
        public = f"http://127.0.0.1:{server.port}"
        internal = f"http://127.0.0.1:{server.internal_port}"
        body = {"sender_id": "c1", "score": 5}
        auth = {"Authorization": "Bearer tok"}
        assert httpx.post(f"{public}/internal/csat", json=body, headers=auth).status_code == 404
        assert httpx.post(f"{internal}/internal/csat", json=body, headers=auth).status_code == 200
        assert httpx.post(f"{internal}/internal/csat", json=body).status_code == 401
        bad_token = {"Authorization": "Bearer tok2"}
        assert (
            httpx.post(f"{internal}/internal/csat", json=body, headers=bad_token).status_code == 401
        )
        assert httpx.get(f"{internal}/report?token=tok").status_code == 404
        assert httpx.get(f"{public}/healthz").json()["ok"] is True
        assert server.internal_http.sock.getsockname()[0] == "127.0.0.1"


def test_public_listener_follows_parley_host() -> None:
    env = {"PARLEY_HOST": "0.0.0.0", "HANDOFF_PORT": "3100"}
    settings = Settings.from_env(env)
    assert (settings.host, settings.port) == ("0.0.0.0", 3100)
    assert (settings.internal_host, settings.internal_port) == ("127.0.0.1", 3101)
    assert settings.service_url == "http://127.0.0.1:3101"
    assert Settings.from_env({**env, "HANDOFF_HOST": "10.0.0.5"}).host == "10.0.0.5"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"HANDOFF_INTERNAL_HOST": "0.0.0.0"}, "HANDOFF_INTERNAL_TOKEN is not set"),
        ({"HANDOFF_INTERNAL_HOST": "bot.example.com"}, "reachable from other machines"),
        ({"HANDOFF_PORT": "3200", "HANDOFF_INTERNAL_PORT": "3200"}, "port of its own"),
    ],
)
def test_unsafe_combinations_refuse_to_start(env: dict[str, str], says: str) -> None:
    settings = Settings.from_env(env)
    with pytest.raises(SettingsError, match=says):
        HandoffServer(settings)


def test_an_exposed_internal_api_with_a_token_starts(tmp_path: Path, rasa: FakeRasa) -> None:
    settings = settings_for(
        tmp_path, None, rasa, HANDOFF_INTERNAL_HOST="0.0.0.0", HANDOFF_INTERNAL_TOKEN="long-secret"
    )
    with running(settings) as server:
        assert server.internal_http.sock.getsockname()[0] == "0.0.0.0"


def test_slack_events_over_the_size_limit_are_refused_unread(
    tmp_path: Path, rasa: FakeRasa
) -> None:
    slack = MockSlack().start()
    try:
        with running(settings_for(tmp_path, slack, rasa)) as server:
            big = "x" * (PUBLIC_MAX_BODY + 1)
            response = signed_post(server, big, "application/json")
            assert response.status_code == 413
            unsigned = httpx.post(
                f"http://127.0.0.1:{server.port}/slack/events", content=b"{}",
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            assert unsigned.status_code == 401  # Bolt's signature check still runs
    finally:
        slack.stop()


def test_a_trickling_slack_request_is_cut_off_before_the_signature_check(
    tmp_path: Path, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handoff.asgi

    monkeypatch.setattr(handoff.asgi, "BODY_SECONDS", 0.5)
    slack = MockSlack().start()
    try:
        with running(settings_for(tmp_path, slack, rasa)) as server:
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(
                    b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                    b"Content-Type: application/json\r\n\r\n{"
                )
                reply = sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 408"), reply[:100]
            assert time.monotonic() - started < 5
    finally:
        slack.stop()


def test_a_hostile_handoff_reaches_slack_escaped(tmp_path: Path, rasa: FakeRasa) -> None:
    """Whoever can post a handoff (only the action server, with the token) cannot make the
    agents' channel ping everyone or show a forged link: every field is escaped."""
    import json

    slack = MockSlack().start()
    try:
        settings = settings_for(tmp_path, slack, rasa, HANDOFF_INTERNAL_TOKEN="tok")
        with running(settings) as server:
            hostile = "<!channel> <@U_ANA> <https://evil.example|your bank> *urgent*"
            packet = {
                "trigger": hostile,
                "trigger_detail": hostile,
                "summary": hostile,
                "customer": {"name": hostile, "email": hostile, "page_url": hostile},
                "transcript": [{"role": "customer", "text": hostile, "ts": 1.0}],
            }
            reply = httpx.post(
                f"http://127.0.0.1:{server.internal_port}/internal/handoffs",
                json={"sender_id": "c-hostile", "packet": packet},
                headers={"Authorization": "Bearer tok"},
            )
            assert reply.status_code == 200
            [posted] = slack.wait_for(lambda: slack.top_level(CHANNEL))
        raw = json.dumps(posted)
        for token in ("<!channel>", "<@U_ANA>", "<https://evil.example"):
            assert token not in raw, token
        assert "&lt;!channel&gt;" in raw
    finally:
        slack.stop()
