"""The handoff action outside support hours, and with a signed customer identity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.handoff import ActionHumanHandoff
from handoff.db import Database
from handoff.identity import sign_customer_id
from handoff.models import Handoff, OutboxItem
from handoff.notices import QUEUED_NOTICE
from handoff.support_hours import DAYS, SupportHours
from tests.conftest import load_json

SECRET = "shared-with-the-site"


async def run(
    db: Database, domain: dict[str, Any], metadata: dict[str, str] | None = None
) -> tuple[CollectingDispatcher, Handoff]:
    snapshot = load_json("tracker_handoff_explicit.json")
    if metadata:
        for event in snapshot["events"]:
            if event.get("event") == "user":
                event["metadata"] = {**(event.get("metadata") or {}), **metadata}
    dispatcher = CollectingDispatcher()
    await ActionHumanHandoff().run(dispatcher, Tracker.from_dict(snapshot), domain)
    with db.session() as s:
        handoff = s.scalars(select(Handoff)).one()
        assert [o.op for o in s.scalars(select(OutboxItem))] == ["post_packet"]
        return dispatcher, handoff


def closed_all_day_today() -> str:
    """Hours on a weekday three days from today (UTC): closed now, whatever the time."""
    day = DAYS[(datetime.now(UTC).weekday() + 3) % 7]
    return f"{day.title()} 09:00-17:00 UTC"


async def test_outside_support_hours_the_customer_hears_when_a_person_is_back(
    handoff_db: Database, domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    hours = closed_all_day_today()
    monkeypatch.setenv("SUPPORT_HOURS", hours)
    back = SupportHours.parse(hours).describe_return(datetime.now(UTC))

    dispatcher, handoff = await run(handoff_db, domain)

    [message] = dispatcher.messages
    assert message["text"] != QUEUED_NOTICE
    assert f"back {back}" in message["text"] and "email address" in message["text"]
    assert message["parley_handoff"] == {"kind": "queued", "state": "queued"}
    # The packet still goes to Slack, saying when the customer was told a person is back.
    assert handoff.state == "queued" and handoff.packet["outside_hours"] == back


async def test_within_support_hours_nothing_changes(
    handoff_db: Database, domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_HOURS", "Mon-Sun 00:00-24:00 Europe/Amsterdam")
    dispatcher, handoff = await run(handoff_db, domain)
    assert [m["text"] for m in dispatcher.messages] == [QUEUED_NOTICE]
    assert "outside_hours" not in handoff.packet


async def test_a_signed_customer_id_verifies_the_customer(
    handoff_db: Database, domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_IDENTITY_SECRET", SECRET)
    signature = sign_customer_id(SECRET, "4711")
    signed = {"customer_id": "4711", "customer_signature": signature}
    _, handoff = await run(handoff_db, domain, signed)
    customer = handoff.packet["customer"]
    assert customer["verified"] is True and customer["id"] == "4711"
    assert "customer_signature" not in customer["metadata"]


async def test_a_forged_signature_leaves_the_customer_unverified(
    handoff_db: Database, domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_IDENTITY_SECRET", SECRET)
    forged = sign_customer_id("guessed-secret", "4711")
    claimed = {"customer_id": "4711", "customer_signature": forged}
    _, handoff = await run(handoff_db, domain, claimed)
    customer = handoff.packet["customer"]
    assert customer["verified"] is False and customer["id"] == ""
    assert customer["name"] == "Maria Silva"  # still shown, marked unverified
