"""Handoffs never vanish: oversized fields are cut to Slack's limits, a packet Slack refuses
is replaced by a minimal one (with an alert), an abandoned handoff gives the customer the bot
back, and outside support hours the customer is told when a person will be back."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block
from sqlalchemy import select

from actions.settings import ActionSettings
from handoff.models import BOT, Conversation, Handoff, OutboxItem, utcnow
from handoff.notices import ABANDONED_NOTICE, AGENT_LEFT_NOTICE
from handoff.outbox import OutboxWorker
from handoff.packet import build_blocks, minimal_blocks
from handoff.rasa_client import RasaClient
from handoff.service import HandoffService
from handoff.settings import SettingsError
from handoff.support_hours import SupportHours
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.mock_web_api_server import Failure, MockSlack, block_problem
from tests.handoff.samples import sample_packet
from tests.handoff.slack_helpers import (
    CHANNEL,
    action_ids,
    button,
    interaction,
    running,
    settings_for,
)

REFUSED = Failure(200, {}, json.dumps({"ok": False, "error": "invalid_blocks"}))


def huge_packet() -> dict:
    packet = sample_packet()
    long = "x" * 5000
    packet["customer"].update(
        name="Maria " + long,
        email=long + "@example.com",
        page_url="https://shop.example/" + long,
        locale=long,
        metadata={f"key{i}": long for i in range(20)},
    )
    packet.update(
        language=long,
        trigger_detail=long,
        summary=long,
        intents=[{"name": f"intent_{i}_{long[:200]}", "confidence": 0.5} for i in range(30)],
        sources=[
            {"path": long, "title": long, "url": "https://h/" + long, "score": 0.3, "used": True}
            for _ in range(10)
        ],
    )
    return packet


@pytest.mark.parametrize("state", ["queued", "agent", "closed"])
def test_every_field_fits_slacks_limits(state: str) -> None:
    blocks = build_blocks(9, huge_packet(), state, "U_ANA", "A" * 5000, "resolved", "n" * 5000)
    assert block_problem(blocks) == ""
    for block in blocks:
        Block.parse(block).validate_json()  # slack_sdk's own Block Kit checks
    customer = blocks[1]["text"]["text"]
    assert "*Email:*" in customer and "*Page:*" in customer  # a long name crowds out nothing


def test_a_packet_with_huge_fields_reaches_slack_and_can_be_claimed(
    tmp_path: Path, slack: MockSlack, rasa: FakeRasa
) -> None:
    with running(settings_for(tmp_path, slack, rasa)) as server:
        hid = server.service.open_handoff("cust-huge", huge_packet()).handoff_id
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL))[0]
        assert action_ids(packet) == ["handoff_claim"] and "Maria" in packet["text"]
        assert len(packet["text"]) < 4000
        interaction(server, button("U_ANA", "handoff_claim", str(hid), packet["ts"]))
        slack.wait_for(lambda: action_ids(slack.top_level(CHANNEL)[0]) == ["handoff_resolve"])
        calls = [c for m in ("chat.postMessage", "chat.update") for c in slack.calls(m)]
        sent = [c["blocks"] for c in calls if "blocks" in c]
        assert len(sent) == 2 and all(block_problem(blocks) == "" for blocks in sent)


def test_a_refused_packet_is_posted_minimal_with_an_alert(
    tmp_path: Path, slack: MockSlack, rasa: FakeRasa, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail_next("chat.postMessage", REFUSED)
    with caplog.at_level(logging.CRITICAL), running(settings_for(tmp_path, slack, rasa)) as server:
        hid = server.service.open_handoff("cust-refused", sample_packet()).handoff_id
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL))[0]
        assert action_ids(packet) == ["handoff_claim"]
        assert "Slack refused the full packet" in json.dumps(packet["blocks"])
        assert f"console show {hid}" in json.dumps(packet["blocks"])
        slack.wait_for(lambda: server.service.get(hid).slack_ts == packet["ts"])
        # Agents work it as any other: the claim updates the (minimal or full) packet.
        interaction(server, button("U_ANA", "handoff_claim", str(hid), packet["ts"]))
        slack.wait_for(lambda: action_ids(slack.top_level(CHANNEL)[0]) == ["handoff_resolve"])
    alerts = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert any("ALERT" in a and f"handoff #{hid}" in a and "invalid_blocks" in a for a in alerts)


def test_a_packet_that_never_reaches_slack_raises_an_alert(
    service: HandoffService, slack: MockSlack, caplog: pytest.LogCaptureFixture
) -> None:
    from handoff.slack_delivery import SlackDelivery, make_web_client

    slack.fail_next("chat.postMessage", REFUSED, REFUSED)
    hid = service.open_handoff("cust-lost", sample_packet()).handoff_id
    delivery = SlackDelivery(make_web_client("xoxb-test", slack.base_url), CHANNEL)
    with caplog.at_level(logging.CRITICAL):
        OutboxWorker(service.db, None, delivery).run_once(("slack",))
    with service.db.session() as s:
        assert s.scalar(select(OutboxItem.status).where(OutboxItem.op == "post_packet")) == "failed"
    alerts = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert any(f"ALERT: handoff #{hid} never reached Slack" in a for a in alerts)


def test_minimal_packet_keeps_the_buttons_for_each_state() -> None:
    assert action_ids({"blocks": minimal_blocks(3, huge_packet(), "queued", "x")}) == [
        "handoff_claim"
    ]
    agent = minimal_blocks(3, huge_packet(), "agent", "x", agent_id="U_ANA")
    assert action_ids({"blocks": agent}) == ["handoff_resolve"]
    assert block_problem(agent) == ""


def test_an_abandoned_handoff_resumes_the_bot_and_tells_the_customer(
    service: HandoffService, rasa: FakeRasa
) -> None:
    hid = service.open_handoff("cust-waiting", sample_packet()).handoff_id
    assert service.sweep_idle(timedelta(minutes=30), now=utcnow() + timedelta(hours=1)) == 1
    with service.db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.sender_id == "cust-waiting"))
        assert conv is not None and conv.state == BOT and conv.outcome == "abandoned"
        assert s.get(Handoff, hid).state == "closed"  # type: ignore[union-attr]
    worker = OutboxWorker(service.db, RasaClient(rasa.url, rasa.token), None)
    assert worker.run_once(("rasa",)) == 1
    events = rasa.events("cust-waiting")
    assert [e["event"] for e in events] == ["resume", "bot", "action"]
    assert events[1]["text"] == ABANDONED_NOTICE
    assert events[1]["metadata"]["parley_handoff"]["kind"] == "handback"  # widget: AI is back
    # The bot talks again: a new request for a person opens a new handoff.
    assert service.open_handoff("cust-waiting", sample_packet()).created


def test_a_claimed_chat_left_idle_also_gives_the_customer_the_bot_back(
    service: HandoffService, rasa: FakeRasa
) -> None:
    hid = service.open_handoff("cust-left", sample_packet()).handoff_id
    service.claim(hid, "U_ANA", "Ana")
    service.sweep_idle(timedelta(minutes=30), now=utcnow() + timedelta(hours=1))
    OutboxWorker(service.db, RasaClient(rasa.url, rasa.token), None).run_once(("rasa",))
    assert rasa.bot_texts("cust-left") == [
        "Ana from support (human) joined the chat.",
        AGENT_LEFT_NOTICE,
    ]
    assert [e["event"] for e in rasa.events("cust-left")][-3:] == ["resume", "bot", "action"]


def test_support_hours_are_read_with_their_time_zone() -> None:
    hours = SupportHours.parse("Mon-Fri 09:00-17:00, Sat 10:00-14:00 Europe/Amsterdam")
    friday_evening = datetime(2025, 1, 10, 17, 30, tzinfo=UTC)  # 18:30 in Amsterdam
    assert not hours.is_open(friday_evening)
    assert hours.is_open(datetime(2025, 1, 10, 15, 30, tzinfo=UTC))  # 16:30 there
    assert hours.is_open(datetime(2025, 1, 10, 8, 30))  # naive means UTC: 09:30 there
    assert hours.describe_return(friday_evening) == "tomorrow at 10:00 (Europe/Amsterdam time)"
    saturday_late = datetime(2025, 1, 11, 15, 0, tzinfo=UTC)
    assert hours.describe_return(saturday_late) == "Monday at 09:00 (Europe/Amsterdam time)"
    assert hours.describe_return(datetime(2025, 1, 13, 6, 0, tzinfo=UTC)) == (
        "today at 09:00 (Europe/Amsterdam time)"
    )
    # Summer time moves the opening in UTC, not on the team's clock.
    assert hours.next_opening(datetime(2025, 7, 6, 12, 0, tzinfo=UTC)) == datetime(
        2025, 7, 7, 7, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("Mon-Fri 09:00-17:00", "not an IANA time zone"),
        ("Mon-Fri 09:00-17:00 Mars/Olympus", "not an IANA time zone"),
        ("Mon-Fry 09:00-17:00 UTC", "unknown day 'fry'"),
        ("Mon-Fri 17:00-09:00 UTC", "ends before it starts"),
        ("Mon-Fri 9-5 UTC", "cannot read"),
        ("Mon-Fri 09:00-25:00 UTC", "impossible time"),
    ],
)
def test_bad_support_hours_are_refused_with_what_to_write(value: str, complaint: str) -> None:
    # The action server reads SUPPORT_HOURS (actions/settings.py).
    with pytest.raises(SettingsError, match=complaint) as info:
        ActionSettings.from_env({"SUPPORT_HOURS": value})
    assert "SUPPORT_HOURS" in str(info.value)
    assert ActionSettings.from_env({"SUPPORT_HOURS": "Mon-Sun 00:00-24:00 UTC"}).support_hours


def test_the_packet_says_it_arrived_outside_support_hours() -> None:
    packet = sample_packet()
    packet["outside_hours"] = "Monday at 09:00 (Europe/Amsterdam time)"
    text = json.dumps(build_blocks(4, packet, "queued"))
    assert "outside support hours" in text and "Monday at 09:00" in text
