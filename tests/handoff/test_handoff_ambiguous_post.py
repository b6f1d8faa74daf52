"""A packet Slack stored but answered 503 for: its ts is unknown until the outbox looks it up
by its key. An agent who claims it and replies in its thread meanwhile is not dropped."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from handoff.models import OutboxItem
from handoff.server import HandoffServer
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.mock_web_api_server import Failure, MockSlack
from tests.handoff.samples import sample_packet
from tests.handoff.slack_helpers import CHANNEL, button, event, interaction, running, settings_for

REPLY = "Hi Maria, I am looking into your parcel now."


def packet_item(server: HandoffServer, hid: int) -> OutboxItem:
    with server.db.session() as s:
        row = s.scalar(select(OutboxItem).where(OutboxItem.key == f"h{hid}:packet"))
        assert row is not None
        return row


def reply(thread_ts: str, ts: str, user: str = "U_ANA", text: str = REPLY) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": CHANNEL,
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "channel_type": "channel",
    }


def test_a_reply_to_a_packet_posted_but_answered_503_reaches_the_customer_once(
    tmp_path: Path, slack: MockSlack, rasa: FakeRasa
) -> None:
    slack.fail_next("chat.postMessage", Failure(503, stored=True))
    # The outbox's next look for the packet is a minute away: the agent is faster.
    settings = settings_for(tmp_path, slack, rasa, HANDOFF_RETRY_BASE_SECONDS="60")
    with running(settings) as server:
        hid = server.service.open_handoff("cust-503", sample_packet()).handoff_id
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL))[0]
        slack.wait_for(lambda: "503" in (packet_item(server, hid).last_error or ""))
        assert server.service.get(hid).slack_ts is None

        r = interaction(server, button("U_ANA", "handoff_claim", str(hid), packet["ts"]))
        assert r.status_code == 200
        assert server.service.get(hid).state == "agent"

        ts = slack.add_reply(CHANNEL, packet["ts"], "U_ANA", REPLY)
        assert event(server, reply(packet["ts"], ts)).status_code == 200
        slack.wait_for(lambda: REPLY in rasa.bot_texts("cust-503"))
        # Slack retries an event it thinks was lost: the customer still gets it once.
        assert event(server, reply(packet["ts"], ts)).status_code == 200

        # The packet's post is resolved as the outbox would: the packet is not posted
        # again, and what waited for it (the claim's thread note) follows in its thread.
        h = server.service.get(hid)
        assert (h.slack_ts, h.slack_channel) == (packet["ts"], CHANNEL)
        row = packet_item(server, hid)
        assert row.status == "sent" and row.result and row.result["found"] is True
        slack.wait_for(
            lambda: any("claimed this chat" in m["text"] for m in slack.thread(CHANNEL, h.slack_ts))
        )
        time.sleep(0.3)
        assert rasa.bot_texts("cust-503").count(REPLY) == 1
        assert len(slack.top_level(CHANNEL)) == 1
        assert not slack.ephemeral


def test_a_thread_that_is_not_a_packet_is_still_ignored(
    tmp_path: Path, slack: MockSlack, rasa: FakeRasa
) -> None:
    slack.fail_next("chat.postMessage", Failure(503, stored=True))
    settings = settings_for(tmp_path, slack, rasa, HANDOFF_RETRY_BASE_SECONDS="60")
    with running(settings) as server:
        hid = server.service.open_handoff("cust-other", sample_packet()).handoff_id
        slack.wait_for(lambda: "503" in (packet_item(server, hid).last_error or ""))
        # A person's own thread in the handoff channel, while a packet's ts is unknown.
        parent = slack.add_reply(CHANNEL, "", "U_BO", "lunch?")
        ts = slack.add_reply(CHANNEL, parent, "U_ANA", "sure")
        assert event(server, reply(parent, ts, text="sure")).status_code == 200
        time.sleep(0.3)
        assert server.service.get(hid).slack_ts is None
        assert packet_item(server, hid).status == "pending"
        assert not rasa.bot_texts("cust-other") and not slack.ephemeral
