"""Personal data: `forget`, the retention purge, page URLs without query strings, and a
ledger export that cannot run formulas in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from handoff.__main__ import _start_retention, main
from handoff.db import Database
from handoff.ledger import export
from handoff.models import (
    AnswerFeedback,
    Conversation,
    Handoff,
    KnowledgeAnswer,
    Message,
    OutboxItem,
    utcnow,
)
from handoff.outbox import OutboxWorker
from handoff.packet import build_blocks, collect_packet
from handoff.rasa_client import RasaClient
from handoff.service import HandoffService
from handoff.settings import Settings, SettingsError
from handoff.slack_delivery import SlackDelivery, make_web_client
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.mock_web_api_server import BOT_USER_ID, MockSlack
from tests.handoff.polling import wait_for
from tests.handoff.samples import sample_packet

CHANNEL = "C_HANDOFF"
DAY = 86_400.0


def tracker_store(rasa: FakeRasa, rows: list[tuple[str, float]]) -> None:
    """Conversations in Rasa's tracker store (the fake's: what Rasa's privacy channel sees)."""
    with rasa._lock:
        for sender, ts in rows:
            event = {"event": "user", "text": "hello", "timestamp": ts}
            rasa.trackers.setdefault(sender, []).append(event)


def tracker_senders(rasa: FakeRasa) -> list[str]:
    with rasa._lock:
        return sorted(sender for sender, events in rasa.trackers.items() if events)


def env_for(
    monkeypatch: pytest.MonkeyPatch,
    tmp: Path,
    slack: MockSlack | None,
    rasa: FakeRasa | None = None,
    **extra: str,
) -> None:
    for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "HANDOFF_DB_URL", "RASA_EVENTS_DB_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PARLEY_STATE_DIR", str(tmp))
    if rasa is not None:
        monkeypatch.setenv("RASA_URL", rasa.url)
        monkeypatch.setenv("RASA_TOKEN", rasa.token)
    if slack is not None:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
        monkeypatch.setenv("SLACK_API_URL", slack.base_url)
        monkeypatch.setenv("SLACK_HANDOFF_CHANNEL", CHANNEL)
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def counts(db: Database, sender: str) -> dict[str, int]:
    with db.session() as s:
        ids = list(s.scalars(select(Handoff.id).where(Handoff.sender_id == sender)))

        def n(stmt: object) -> int:
            return int(s.scalar(stmt) or 0)  # type: ignore[call-overload]

        return {
            "conversations": n(select(func.count()).where(Conversation.sender_id == sender)),
            "handoffs": len(ids),
            "messages": n(select(func.count()).where(Message.handoff_id.in_(ids))),
            "outbox": n(select(func.count()).where(OutboxItem.handoff_id.in_(ids))),
            "answers": n(select(func.count()).where(KnowledgeAnswer.sender_id == sender)),
            "feedback": n(select(func.count()).where(AnswerFeedback.sender_id == sender)),
        }


def handoff_with_history(
    service: HandoffService, sender: str, worker: OutboxWorker, slack: MockSlack
) -> str:
    """A handoff posted to Slack with a thread, a claim, a relayed line and an agent reply;
    returns the packet's ts."""
    hid = service.open_handoff(sender, sample_packet()).handoff_id
    service.note_rasa_event(
        {
            "sender_id": sender,
            "event": "bot",
            "timestamp": 95.0,
            "text": "Parcels take 3-5 days.",
            "data": {"custom": {"answer_type": "kb", "question": "where is my parcel"}},
        }
    )
    service.record_feedback(sender, "no", question="where is my parcel")
    service.record_csat(sender, 2, "slow")
    service.claim(hid, "U_ANA", "Ana")
    service.customer_message(sender, "My address is Main St 1", 200.0, f"rasa:{sender}:200")
    service.agent_reply(hid, "U_ANA", "Thanks, checking.", source_key=f"slack:{sender}:r1")
    while worker.run_once():
        pass
    with service.db.session() as s:
        ts = s.scalar(select(Handoff.slack_ts).where(Handoff.id == hid))
    assert ts
    return ts


def test_forget_deletes_the_conversation_everywhere_and_says_what_it_removed(
    tmp_path: Path,
    slack: MockSlack,
    rasa: FakeRasa,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env_for(monkeypatch, tmp_path, slack, rasa)
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    service = HandoffService(db, CHANNEL)
    client = make_web_client("xoxb-test", slack.base_url)
    worker = OutboxWorker(db, RasaClient(rasa.url, rasa.token), SlackDelivery(client, CHANNEL))
    gone_ts = handoff_with_history(service, "cust-forget", worker, slack)
    kept_ts = handoff_with_history(service, "cust-other", worker, slack)
    agent_ts = slack.add_reply(CHANNEL, gone_ts, "U_ANA", "Ana typed this herself")
    tracker_store(rasa, [("cust-forget", 1.0), ("cust-forget", 2.0)])
    tracker_store(rasa, [("cust-other", 3.0)])
    assert len(slack.thread(CHANNEL, gone_ts)) == 3  # claimed note, relayed line, agent's own
    in_rasa = len(rasa.events("cust-forget"))  # the two above and the notices Rasa was sent

    assert main(["forget", "cust-forget"]) == 0
    out = capsys.readouterr().out

    # Slack: the packet and the app's thread messages are gone; the agent's own reply cannot
    # be deleted with the bot token and is named; the other customer's packet is untouched.
    assert [m["ts"] for m in slack.top_level(CHANNEL)] == [kept_ts]
    assert [m["ts"] for m in slack.thread(CHANNEL, gone_ts)] == [agent_ts]
    assert len(slack.thread(CHANNEL, kept_ts)) == 2
    deleted = [c["ts"] for c in slack.calls("chat.delete")]
    assert deleted[-1] == gone_ts  # replies first, the packet last
    # Rasa's tracker store and the handoff database.
    assert tracker_senders(rasa) == ["cust-other"]
    assert set(counts(db, "cust-forget").values()) == {0}
    assert counts(db, "cust-other")["handoffs"] == 1 and counts(db, "cust-other")["answers"] == 1
    # What it says it removed.
    assert "Forgot cust-forget:" in out
    assert f"Rasa tracker store: {in_rasa} events" in out
    assert "1 ledger rows, 1 handoffs" in out and "1 knowledge answers, 1 answer feedback" in out
    assert "Slack: 3 messages deleted" in out
    assert "1 messages NOT deleted" in out and f"{CHANNEL} {agent_ts}" in out

    assert main(["forget", "cust-forget"]) == 0
    assert "Nothing stored for cust-forget" in capsys.readouterr().out
    db.dispose()


def test_forget_without_slack_access_stops_before_deleting_anything(
    tmp_path: Path,
    slack: MockSlack,
    rasa: FakeRasa,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env_for(monkeypatch, tmp_path, None, rasa)  # this shell has no Slack token
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    service = HandoffService(db, CHANNEL)
    client = make_web_client("xoxb-test", slack.base_url)
    worker = OutboxWorker(db, RasaClient(rasa.url, rasa.token), SlackDelivery(client, CHANNEL))
    handoff_with_history(service, "cust-x", worker, slack)
    tracker_store(rasa, [("cust-x", 1.0)])

    assert main(["forget", "cust-x"]) == 1
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN" in err and "--keep-slack" in err
    assert counts(db, "cust-x")["handoffs"] == 1 and tracker_senders(rasa)

    assert main(["forget", "cust-x", "--keep-slack"]) == 0
    assert counts(db, "cust-x")["handoffs"] == 0 and not tracker_senders(rasa)
    assert len(slack.top_level(CHANNEL)) == 1  # left in Slack, as asked
    db.dispose()


def test_purge_forgets_only_conversations_idle_in_every_store(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    rasa: FakeRasa,
) -> None:
    env_for(monkeypatch, tmp_path, None, rasa)
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    service = HandoffService(db)
    now = time.time()
    for sender in ("old", "old-but-chatting", "recent"):
        service.note_rasa_event({"sender_id": sender, "event": "user", "timestamp": now})
    with db.session() as s:
        for conv in s.scalars(select(Conversation)):
            if conv.sender_id != "recent":
                conv.last_activity_at = utcnow() - timedelta(days=100)
    tracker_store(
        rasa,
        [
            ("old", now - 100 * DAY),
            ("rasa-only-old", now - 95 * DAY),
            ("old-but-chatting", now - 100 * DAY),
            ("old-but-chatting", now - 60),  # the handoff service missed this one
            ("recent", now - 60),
        ],
    )

    assert main(["purge"]) == 2
    assert "HANDOFF_RETENTION_DAYS" in capsys.readouterr().err
    monkeypatch.setenv("HANDOFF_RETENTION_DAYS", "30")
    assert main(["purge", "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert "old\n" in listed and "rasa-only-old" in listed and "recent" not in listed
    assert counts(db, "old")["conversations"] == 1  # a dry run removes nothing

    assert main(["purge"]) == 0
    assert "Forgot 2 conversations idle for more than 30 days" in capsys.readouterr().out
    assert tracker_senders(rasa) == ["old-but-chatting", "recent"]
    with db.session() as s:
        left = sorted(s.scalars(select(Conversation.sender_id)))
    assert left == ["old-but-chatting", "recent"]
    db.dispose()


def test_the_service_purges_on_start_and_daily_when_retention_is_set(
    tmp_path: Path, rasa: FakeRasa
) -> None:
    env = {
        "PARLEY_STATE_DIR": str(tmp_path),
        "HANDOFF_RETENTION_DAYS": "7",
        "RASA_URL": rasa.url,
        "RASA_TOKEN": rasa.token,
    }
    settings = Settings.from_env(env)
    db = Database(settings.db_url)
    HandoffService(db).record_csat("stale", 4)
    with db.session() as s:
        s.scalars(select(Conversation)).one().last_activity_at = utcnow() - timedelta(days=8)
    assert _start_retention(Settings.from_env({"PARLEY_STATE_DIR": str(tmp_path)}), db) is None

    loop = _start_retention(settings, db)
    assert loop is not None
    try:
        assert loop.interval == timedelta(days=1)
        wait_for(lambda: counts(db, "stale")["conversations"] == 0, timeout=5)
    finally:
        loop.stop()
    db.dispose()


@pytest.mark.parametrize("value", ["-1", "ninety"])
def test_a_bad_retention_setting_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="HANDOFF_RETENTION_DAYS"):
        Settings.from_env({"HANDOFF_RETENTION_DAYS": value})


def test_page_urls_lose_query_string_fragment_and_credentials() -> None:
    url = "https://ana:pw@shop.example:8443/checkout/pay?token=s3cret&email=a%40b.c#card"
    events = [
        {
            "event": "user",
            "timestamp": 1.0,
            "text": "help",
            "metadata": {
                "page_url": url,
                "referrer": "https://mail.example/reset?code=123",
                "plan": "gold",
            },
        }
    ]
    packet = collect_packet(events)
    assert packet["customer"]["page_url"] == "https://shop.example:8443/checkout/pay"
    assert packet["customer"]["metadata"] == {
        "referrer": "https://mail.example/reset",
        "plan": "gold",
    }
    dumped = json.dumps([packet, build_blocks(1, packet, "queued")])
    for secret in ("s3cret", "a%40b.c", "#card", "code=123", "ana:pw"):
        assert secret not in dumped


def test_csv_export_cannot_run_formulas(service: HandoffService) -> None:
    attacks = {
        "c-eq": '=HYPERLINK("http://evil.example","click")',
        "c-plus": "+1+cmd|' /C calc'!A0",
        "c-minus": "-2+3",
        "c-at": "@SUM(1,1)",
        "c-tab": "\t=1",
        "c-cr": "\r=1",
    }
    for sender, comment in attacks.items():
        service.record_csat(sender, 1, comment)
    service.record_csat("=cmd", 5, "fine, thanks")

    rows = {r["conversation_id"]: r for r in csv.DictReader(io.StringIO(export(service.db, "csv")))}
    for sender, comment in attacks.items():
        assert rows[sender]["csat_comment"] == "'" + comment
    assert "'=cmd" in rows and rows["'=cmd"]["csat_comment"] == "fine, thanks"
    assert rows["'=cmd"]["csat"] == "5"
    # JSON is data, not a spreadsheet: it keeps the text as written.
    by_id = {r["conversation_id"]: r for r in json.loads(export(service.db, "json"))}
    assert by_id["c-eq"]["csat_comment"] == attacks["c-eq"]


def test_mock_slack_refuses_what_slack_refuses(slack: MockSlack) -> None:
    # The tests above and below rely on the mock deleting only the app's own messages.
    ts = slack.add_reply(CHANNEL, "1.0", "U_ANA", "hi")
    client = make_web_client("xoxb-test", slack.base_url)
    from slack_sdk.errors import SlackApiError

    with pytest.raises(SlackApiError, match="cant_delete_message"):
        client.chat_delete(channel=CHANNEL, ts=ts)
    posted = client.chat_postMessage(channel=CHANNEL, text="x")
    assert posted["message"]["user"] == BOT_USER_ID
    client.chat_delete(channel=CHANNEL, ts=posted["ts"])
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_delete(channel=CHANNEL, ts=posted["ts"])
