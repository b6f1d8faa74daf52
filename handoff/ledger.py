"""The outcome ledger: one row per conversation, exported as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from handoff.db import Database
from handoff.models import Conversation, Handoff

FIELDS = [
    "conversation_id",
    "outcome",
    "state",
    "trigger",
    "trigger_confidence",
    "handoff_count",
    "agent",
    "resolution",
    "resolution_note",
    "started_at",
    "first_bot_response_at",
    "handoff_at",
    "claimed_at",
    "first_agent_reply_at",
    "resolved_at",
    "ended_at",
    "last_activity_at",
    "csat",
    "csat_comment",
]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value else None


def ledger_rows(db: Database) -> list[dict[str, Any]]:
    """One row per conversation; handoff columns describe its latest handoff."""
    rows = []
    with db.session() as session:
        latest: dict[int, Handoff] = {}
        for handoff in session.scalars(select(Handoff).order_by(Handoff.id)):
            latest[handoff.conversation_id] = handoff
        for conv in session.scalars(select(Conversation).order_by(Conversation.id)):
            h = latest.get(conv.id)
            rows.append(
                {
                    "conversation_id": conv.sender_id,
                    "outcome": conv.outcome,
                    "state": conv.state,
                    "trigger": h.trigger if h else None,
                    "trigger_confidence": h.trigger_confidence if h else None,
                    "handoff_count": conv.handoff_count,
                    "agent": h.agent_name if h else None,
                    "resolution": h.resolution if h else None,
                    "resolution_note": h.resolution_note if h else None,
                    "started_at": _iso(conv.started_at),
                    "first_bot_response_at": _iso(conv.first_bot_response_at),
                    "handoff_at": _iso(h.queued_at) if h else None,
                    "claimed_at": _iso(h.claimed_at) if h else None,
                    "first_agent_reply_at": _iso(h.first_agent_reply_at) if h else None,
                    "resolved_at": _iso(h.resolved_at) if h else None,
                    "ended_at": _iso(conv.ended_at),
                    "last_activity_at": _iso(conv.last_activity_at),
                    "csat": conv.csat,
                    "csat_comment": conv.csat_comment,
                }
            )
    return rows


# A spreadsheet runs a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that cannot run as a formula: a leading quote makes it literal text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def export(db: Database, fmt: str) -> str:
    rows = ledger_rows(db)
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    # RFC 4180's CRLF: with a bare "\n" ending, a "\r" inside a comment is left unquoted and
    # starts a new row in a spreadsheet, where its rest would be read as a formula.
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else spreadsheet_safe(v) for k, v in row.items()})
    return out.getvalue()
