"""The terminal console and the ledger export: same queue, same state machine as Slack."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from handoff.__main__ import main
from handoff.db import Database
from handoff.service import AI_BACK_NOTICE, CLOSED_NOTICE, HandoffService
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.samples import sample_packet


@pytest.fixture
def env(tmp_path: Path, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "HANDOFF_DB_URL", "HANDOFF_AGENT_NAME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PARLEY_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RASA_URL", rasa.url)
    monkeypatch.setenv("RASA_TOKEN", rasa.token)
    monkeypatch.setenv("HANDOFF_URL", "http://127.0.0.1:9")  # no service running
    return tmp_path


def open_handoff(state: Path, sender: str = "cust-cli") -> int:
    db = Database(f"sqlite:///{state / 'handoff.db'}")
    try:
        return HandoffService(db).open_handoff(sender, sample_packet()).handoff_id
    finally:
        db.dispose()


def test_console_claim_reply_handback(
    env: Path, rasa: FakeRasa, capsys: pytest.CaptureFixture[str]
) -> None:
    hid = open_handoff(env)
    assert main(["console", "list"]) == 0
    out = capsys.readouterr().out
    assert f"#{hid}" in out and "queued" in out and "Maria" in out

    assert main(["console", "show", str(hid)]) == 0
    assert "My parcel to Germany is late" in capsys.readouterr().out

    assert main(["console", "claim", str(hid), "--as", "Ana"]) == 0
    assert main(["console", "--as", "Bo", "claim", str(hid)]) == 2
    assert "already claimed by Ana" in capsys.readouterr().err
    assert main(["console", "reply", str(hid), "Hello,", "Ana", "here", "--as", "Ana"]) == 0
    assert main(["console", "reply", str(hid), "sneaky", "--as", "Bo"]) == 2
    assert main(["console", "handback", str(hid), "--as", "Ana"]) == 0
    # Delivered to the customer by the console itself, since no service is running.
    assert rasa.bot_texts("cust-cli") == [
        "Ana from support (human) joined the chat.",
        "Hello, Ana here",
        AI_BACK_NOTICE,
    ]
    # The bot listens afresh after the hand back, so its rules match the next message.
    assert [e["event"] for e in rasa.events("cust-cli")][-3:] == ["resume", "bot", "action"]
    assert rasa.events("cust-cli")[-1]["name"] == "action_listen"
    # Notices are marked for the widget; the agent's own message names its author.
    markers = [
        {k: v for k, v in e["metadata"]["parley_handoff"].items() if k != "key"}
        for e in rasa.events("cust-cli")
        if e["event"] == "bot"
    ]
    assert markers == [
        {"agent": "", "kind": "joined", "state": "agent", "name": "Ana"},
        {"agent": "Ana"},
        {"agent": "", "kind": "handback", "state": "bot"},
    ]


def test_console_user_errors_are_plain(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "claim", "999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: There is no handoff #999") and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["console", "resolve", "1", "--outcome", "maybe"])


def test_rasa_down_then_delivered_once(env: Path, rasa: FakeRasa) -> None:
    hid = open_handoff(env, "cust-down")
    rasa.fail_next = [503]
    assert main(["console", "claim", str(hid), "--as", "Ana"]) == 0
    assert rasa.bot_texts("cust-down") == []
    assert main(["outbox"]) == 0
    # The next console action retries the waiting item first, in order.
    from datetime import timedelta

    from sqlalchemy import update

    from handoff.models import OutboxItem, utcnow

    db = Database(f"sqlite:///{env / 'handoff.db'}")
    with db.session() as s:
        s.execute(update(OutboxItem).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.dispose()
    assert main(["console", "reply", str(hid), "hi", "--as", "Ana"]) == 0
    assert rasa.bot_texts("cust-down") == ["Ana from support (human) joined the chat.", "hi"]


def test_export_csv_and_json(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hid = open_handoff(env, "cust-ledger")
    main(["console", "claim", str(hid), "--as", "Ana"])
    main(
        [
            "console",
            "resolve",
            str(hid),
            "--outcome",
            "not_resolved",
            "--note",
            "n/a",
            "--close",
            "--as",
            "Ana",
        ]
    )
    capsys.readouterr()
    assert main(["export", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["conversation_id"] == "cust-ledger"
    assert rows[0]["outcome"] == "unresolved" and rows[0]["state"] == "closed"
    assert rows[0]["resolution"] == "not_resolved" and rows[0]["agent"] == "Ana"
    out = env / "ledger.json"
    assert main(["export", "--format", "json", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data[0]["claimed_at"] and data[0]["resolved_at"] and data[0]["ended_at"]


def test_closing_tells_the_customer_with_a_closed_notice(env: Path, rasa: FakeRasa) -> None:
    hid = open_handoff(env, "cust-closed")
    main(["console", "claim", str(hid), "--as", "Ana"])
    main(["console", "resolve", str(hid), "--outcome", "resolved", "--close", "--as", "Ana"])
    last = rasa.events("cust-closed")[-1]
    assert last["text"] == CLOSED_NOTICE
    assert last["metadata"]["parley_handoff"]["kind"] == "closed"
    assert "resume" not in [e["event"] for e in rasa.events("cust-closed")]
