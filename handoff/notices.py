"""What the customer is told about the handoff (kept import-light for the action server).

Every notice reaches the widget with `metadata.parley_handoff.kind` (one of KINDS), so it
is shown as a system notice rather than a bot message; the joined notice also carries the
agent's display name as `name`."""

from __future__ import annotations

from typing import Any

HANDOFF_META = "parley_handoff"

QUEUED = "queued"
JOINED = "joined"
HANDBACK = "handback"
CLOSED = "closed"
KINDS = (QUEUED, JOINED, HANDBACK, CLOSED)

QUEUED_NOTICE = (
    "I've passed our conversation to a person from our support team, with everything you "
    "told me, so you won't have to repeat yourself. You're in the queue; they will reply "
    "right here. Until then I'll stay quiet."
)
AI_BACK_NOTICE = (
    "You're talking to the AI assistant again. Ask me anything, or ask for a person "
    "whenever you like."
)
CLOSED_NOTICE = "Our support team has closed this conversation. Thank you for contacting us."


def joined_notice(agent_name: str) -> str:
    return f"{agent_name} from support (human) joined the chat."


def notice_marker(kind: str, name: str = "") -> dict[str, Any]:
    """What goes under the bot event's `metadata.parley_handoff` for a notice."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    return {"kind": kind, "name": name} if name else {"kind": kind}
