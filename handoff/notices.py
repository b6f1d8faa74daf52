"""What the customer is told about the handoff (kept import-light for the action server).

Every notice reaches the widget with `metadata.parley_handoff.kind` (one of KINDS), so it
is shown as a system notice rather than a bot message, and `state`, the handoff state the
conversation is in from then on; the joined notice also carries the agent's display name as
`name`."""

from __future__ import annotations

from typing import Any

from parley_shared.phrases import phrase

HANDOFF_META = "parley_handoff"
# On the knowledge answer's bot event: the question as the answerer read it, for the ledger.
# Rasa keeps it in the tracker; the channels never send it to the browser.
QUESTION_META = "parley_question"

QUEUED = "queued"
JOINED = "joined"
HANDBACK = "handback"
CLOSED = "closed"
KINDS = (QUEUED, JOINED, HANDBACK, CLOSED)

# The English texts; each language's are in parley_shared/phrases.yml (the handoff service and
# the actions send the customer's).
QUEUED_NOTICE = phrase("queued")
AI_BACK_NOTICE = phrase("ai_back")
CLOSED_NOTICE = phrase("closed")
# Sent as a HANDBACK notice: the bot is resumed, so the widget shows the AI as back.
ABANDONED_NOTICE = phrase("abandoned")
# The same, when an agent had joined and then went quiet.
AGENT_LEFT_NOTICE = phrase("agent_left")


def outside_hours_notice(back: str, language: str | None = None) -> str:
    """The queued notice outside support hours; `back` is e.g. "Monday at 09:00 (… time)"."""
    return phrase("outside_hours", language, back=back)


def joined_notice(agent_name: str, language: str | None = None) -> str:
    return phrase("joined", language, name=agent_name)


# The handoff state each notice moves the conversation to (handoff/models.py's states): the
# notice carries it, so the widget shows what the handoff service decided, not its own guess.
STATE_AFTER = {QUEUED: "queued", JOINED: "agent", HANDBACK: "bot", CLOSED: "closed"}


def notice_marker(kind: str, name: str = "") -> dict[str, Any]:
    """What goes under the bot event's `metadata.parley_handoff` for a notice: its kind,
    the state it moves the conversation to and, when an agent joined, their name."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    marker = {"kind": kind, "state": STATE_AFTER[kind]}
    return {**marker, "name": name} if name else marker
