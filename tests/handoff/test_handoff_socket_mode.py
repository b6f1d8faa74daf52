"""The Slack app in Socket Mode, over a real websocket: the mock Web API hands out the URL of
a local Socket Mode server, which pushes envelopes the app must acknowledge and act on."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from handoff.db import Database
from handoff.models import AGENT
from handoff.service import HandoffService
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.mock_socket_mode_server import MockSocketMode
from tests.handoff.mock_web_api_server import MockSlack
from tests.handoff.samples import sample_packet
from tests.handoff.slack_helpers import (
    CHANNEL,
    base_url,
    button,
    event_callback,
    running,
    settings_for,
)

APP_TOKEN = "xapp-1-A1-test"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def socket_mode(slack: MockSlack) -> Iterator[MockSocketMode]:
    with MockSocketMode() as server:
        slack.socket_mode_url = server.url
        yield server


def test_claim_and_reply_over_socket_mode(
    tmp_path: Path, slack: MockSlack, socket_mode: MockSocketMode, rasa: FakeRasa
) -> None:
    # Socket Mode needs no signing secret: the websocket is opened with the app token.
    settings = settings_for(
        tmp_path, slack, rasa, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=""
    )
    with running(settings) as server:
        assert server.mode() == "slack-socket-mode"
        slack.wait_for(socket_mode.connected)
        assert ("apps.connections.open", APP_TOKEN) in slack.tokens
        # No HTTP endpoint for Slack without a signing secret: events come over the socket.
        assert httpx.post(f"{base_url(server)}/slack/events", content=b"{}").status_code == 404

        hid = server.service.open_handoff("cust-sm", sample_packet()).handoff_id
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL))[0]

        claim = socket_mode.push(
            "interactive", button("U_ANA", "handoff_claim", str(hid), packet["ts"])
        )
        assert socket_mode.wait_for_ack(claim)["envelope_id"] == claim
        h = server.service.get(hid)
        assert (h.state, h.agent_id, h.agent_name) == (AGENT, "U_ANA", "Ana")
        slack.wait_for(lambda: rasa.bot_texts("cust-sm"))

        reply = socket_mode.push(
            "events_api",
            event_callback(
                {
                    "type": "message",
                    "channel": CHANNEL,
                    "user": "U_ANA",
                    "text": "Hi, *Ana* here.",
                    "ts": "1700000200.000001",
                    "thread_ts": packet["ts"],
                    "channel_type": "channel",
                }
            ),
        )
        socket_mode.wait_for_ack(reply)
        slack.wait_for(lambda: len(rasa.bot_texts("cust-sm")) == 2)
        assert rasa.bot_texts("cust-sm") == [
            "Ana from support (human) joined the chat.",
            "Hi, **Ana** here.",
        ]
        assert [m.text for m in server.service.messages(hid) if m.role == "agent"] == [
            "Hi, **Ana** here."
        ]


def test_serve_command_uses_socket_mode_with_an_app_token(
    tmp_path: Path, slack: MockSlack, socket_mode: MockSocketMode, rasa: FakeRasa
) -> None:
    """`python -m handoff serve`, as `make run` starts it, with SLACK_APP_TOKEN set."""
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    service = HandoffService(db, CHANNEL)
    hid = service.open_handoff("cust-serve", sample_packet()).handoff_id
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PARLEY_STATE_DIR": str(tmp_path),
        "HANDOFF_PORT": "0",
        "HANDOFF_POLL_SECONDS": "0.05",
        "RASA_URL": rasa.url,
        "RASA_TOKEN": rasa.token,
        "RASA_EVENTS_DB_URL": "",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.base_url,
        "SLACK_HANDOFF_CHANNEL": CHANNEL,
    }
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "(slack-socket-mode mode)" in proc.stdout.readline()
        slack.wait_for(socket_mode.connected, timeout=20)
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL))[0]
        claim = socket_mode.push(
            "interactive", button("U_ANA", "handoff_claim", str(hid), packet["ts"])
        )
        socket_mode.wait_for_ack(claim)
        assert service.get(hid).agent_name == "Ana"
        slack.wait_for(lambda: rasa.bot_texts("cust-serve"))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        db.dispose()
