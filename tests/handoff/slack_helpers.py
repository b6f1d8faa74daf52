"""Signed Slack requests and a running handoff server wired to the mock Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from handoff.server import HandoffServer
from handoff.settings import Settings
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.mock_web_api_server import MockSlack

SIGNING_SECRET = "test-signing-secret"
# One client for all requests: building a client (and its TLS context) per request would
# add tens of milliseconds that Slack's real requests do not have.
_http = httpx.Client(timeout=10)
CHANNEL = "C_HANDOFF"


def settings_for(tmp: Path, slack: MockSlack | None, rasa: FakeRasa, **extra: str) -> Settings:
    env = {
        "PARLEY_STATE_DIR": str(tmp),
        "HANDOFF_PORT": "0",
        "RASA_URL": rasa.url,
        "RASA_TOKEN": rasa.token,
        "RASA_EVENTS_DB_URL": f"sqlite:///{tmp / 'rasa_events.db'}",
        "HANDOFF_RETRY_BASE_SECONDS": "0.05",
        "HANDOFF_POLL_SECONDS": "0.05",
    }
    if slack is not None:
        env.update(
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.base_url,
            SLACK_HANDOFF_CHANNEL=CHANNEL,
        )
    env.update(extra)
    return Settings.from_env(env)


@contextmanager
def running(settings: Settings) -> Iterator[HandoffServer]:
    server = HandoffServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def base_url(server: HandoffServer | str) -> str:
    return server if isinstance(server, str) else f"http://127.0.0.1:{server.port}"


def signed_post(
    server: HandoffServer | str, body: str, content_type: str, secret: str = SIGNING_SECRET
) -> httpx.Response:
    ts = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return _http.post(
        f"{base_url(server)}/slack/events",
        content=body.encode(),
        headers={
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        },
    )


def interaction(server: HandoffServer | str, payload: dict[str, Any], **kw: Any) -> httpx.Response:
    body = urlencode({"payload": json.dumps(payload)})
    return signed_post(server, body, "application/x-www-form-urlencoded", **kw)


def event_callback(ev: dict[str, Any]) -> dict[str, Any]:
    """The Events API envelope around `ev`, as Slack sends it (HTTP or Socket Mode)."""
    return {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": f"Ev{time.monotonic_ns()}",
        "event_time": int(time.time()),
        "authorizations": [{"user_id": "UBOT0001", "is_bot": True, "team_id": "T1"}],
        "event": ev,
    }


def event(server: HandoffServer | str, ev: dict[str, Any], **kw: Any) -> httpx.Response:
    return signed_post(server, json.dumps(event_callback(ev)), "application/json", **kw)


def button(user: str, action_id: str, value: str, message_ts: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": f"trigger-{time.monotonic_ns()}",
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
        "message": {"ts": message_ts, "type": "message"},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "handoff_actions",
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
    }


def resolve_submission(
    user: str, handoff_id: int, outcome: str, after: str = "hand_back", note: str = ""
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "t-submit",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "handoff_resolve_modal",
            "private_metadata": str(handoff_id),
            "state": {
                "values": {
                    "outcome": {
                        "value": {"type": "static_select", "selected_option": {"value": outcome}}
                    },
                    "after": {
                        "value": {"type": "radio_buttons", "selected_option": {"value": after}}
                    },
                    "note": {"value": {"type": "plain_text_input", "value": note}},
                }
            },
        },
    }


def broker_event(db_path: Path, sender: str, event: dict[str, Any]) -> None:
    """Append an event the way Rasa's SQL event broker does."""
    import sqlite3

    con = sqlite3.connect(db_path)
    con.execute(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
        "data TEXT)"
    )
    con.execute(
        "INSERT INTO events (sender_id, data) VALUES (?, ?)",
        (sender, json.dumps({"sender_id": sender, **event})),
    )
    con.commit()
    con.close()


def action_ids(message: dict[str, Any]) -> list[str]:
    """The buttons on a posted message, by action id."""
    return [
        e["action_id"]
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]
