"""Agents see the truth: browser-supplied identity is marked unverified unless the site
signed it, a customer's newline cannot forge a "Bot:" line, and the terminal console shows
no control characters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from handoff.__main__ import main
from handoff.db import Database
from handoff.identity import is_verified, sign_customer_id
from handoff.models import OutboxItem
from handoff.packet import build_blocks, collect_packet, console_text, headline, transcript_lines
from handoff.service import HandoffService
from tests.handoff.samples import sample_packet

SECRET = "site-secret"
FORGERY = "where is my order?\n*Bot:* Good news: your refund of 500 EUR was approved."
FORGERIES = [
    FORGERY,
    "hi\r\n*Bot:* refund approved",
    "hi\r*Bot:* refund approved",
    "hi\u2028*Bot:* refund approved",  # Unicode line separator
    "hi\x85*Bot:* refund approved",  # NEL
    "hi\v*Bot:* refund approved",
]


def user_event(text: str, metadata: dict | None = None, ts: float = 1.0) -> dict:
    return {"event": "user", "timestamp": ts, "text": text, "metadata": metadata or {}}


def customer_text(blocks: list[dict]) -> str:
    return blocks[1]["text"]["text"]


def test_browser_identity_is_shown_as_unverified() -> None:
    meta = {"name": "Maria", "email": "maria@example.com"}
    packet = collect_packet([user_event("hi", meta)], identity_secret=SECRET)
    assert packet["customer"]["verified"] is False
    text = customer_text(build_blocks(1, packet, "queued"))
    assert "*Customer:* Maria (unverified)" in text
    assert "*Email:* maria@example.com (unverified)" in text
    assert "verified by" not in text
    assert "(unverified)" in headline(1, packet)
    assert "(unverified)" in console_text(1, packet)


def test_a_signed_customer_id_is_shown_as_verified() -> None:
    meta = {
        "name": "Maria",
        "email": "maria@example.com",
        "customer_id": "4711",
        "customer_signature": sign_customer_id(SECRET, "4711"),
    }
    packet = collect_packet([user_event("hi", meta)], identity_secret=SECRET)
    assert packet["customer"]["verified"] is True and packet["customer"]["id"] == "4711"
    text = customer_text(build_blocks(1, packet, "queued"))
    assert "Maria (signed in as `4711`)" in text and "verified by the site's signature" in text
    assert "unverified" not in text
    assert "signed in as 4711, verified" in console_text(1, packet)
    # The signature is not echoed anywhere agents look.
    assert meta["customer_signature"] not in json.dumps(build_blocks(1, packet, "queued"))


@pytest.mark.parametrize(
    ("secret", "customer_id", "signature"),
    [
        ("", "4711", sign_customer_id("", "4711")),  # no secret configured: nothing verifies
        (SECRET, "4712", sign_customer_id(SECRET, "4711")),  # someone else's signature
        (SECRET, "4711", "0" * 64),
        (SECRET, "4711", ""),
        (SECRET, "", sign_customer_id(SECRET, "")),
    ],
)
def test_anything_but_a_matching_signature_is_unverified(
    secret: str, customer_id: str, signature: str
) -> None:
    assert not is_verified(secret, customer_id, signature)
    meta = {"name": "Maria", "customer_id": customer_id, "customer_signature": signature}
    packet = collect_packet([user_event("hi", meta)], identity_secret=secret)
    assert packet["customer"]["verified"] is False and packet["customer"]["id"] == ""
    assert "(unverified)" in customer_text(build_blocks(1, packet, "queued"))


def test_the_signature_is_case_insensitive_hex() -> None:
    assert is_verified(SECRET, "4711", sign_customer_id(SECRET, "4711").upper())


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_newline_cannot_forge_a_bot_line_in_the_packet(forgery: str) -> None:
    events = [user_event(forgery), {"event": "bot", "timestamp": 2.0, "text": "Let me check."}]
    packet = collect_packet(events)
    lines = transcript_lines(packet)
    assert len(lines) == 2
    assert lines[0].startswith("*Customer:* ") and "↵" in lines[0]
    transcript = [b for b in build_blocks(1, packet, "queued") if "Transcript" in json.dumps(b)]
    shown = transcript[0]["text"]["text"].splitlines()
    assert [line.split(":*")[0] for line in shown[1:]] == ["*Customer", "*Bot"]
    console = console_text(1, packet).splitlines()
    assert sum(line.strip().startswith("bot:") for line in console) == 1


def test_a_newline_cannot_forge_a_bot_line_in_the_thread(service: HandoffService) -> None:
    service.open_handoff("cust-nl", sample_packet())
    service.customer_message("cust-nl", FORGERY, 200.0, "e-nl")
    with service.db.session() as s:
        relayed = s.scalar(select(OutboxItem.payload).where(OutboxItem.key == "slack:e-nl"))
    assert relayed is not None
    assert "\n" not in relayed["text"] and relayed["text"].startswith("*Customer:* where")
    assert "↵ *Bot:* Good news" in relayed["text"]


def test_the_console_strips_control_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("SLACK_BOT_TOKEN", "HANDOFF_DB_URL", "HANDOFF_AGENT_NAME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PARLEY_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("HANDOFF_URL", "http://127.0.0.1:9")
    nasty = "\x1b[2J\x1b[31mhi\x07 there\x9b1m \u202eevil\x00"
    packet = sample_packet()
    packet["customer"]["name"] = "Eve\x1b]0;pwned\x07"
    packet["transcript"][0]["text"] = nasty
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    try:
        service = HandoffService(db)
        hid = service.open_handoff("cust-ansi", packet).handoff_id
        service.customer_message("cust-ansi", nasty, 200.0, "e-ansi")
    finally:
        db.dispose()

    assert main(["console", "list"]) == 0
    assert main(["console", "show", str(hid)]) == 0
    out = capsys.readouterr().out
    assert "Eve]0;pwned" in out and "[2J[31mhi there1m evil" in out
    for char in ("\x1b", "\x07", "\x9b", "\u202e", "\x00"):
        assert char not in out
