"""What the customer is told about the handoff (kept import-light for the action server).

Every notice reaches the widget with `metadata.parley_handoff.kind` (one of KINDS), so it
is shown as a system notice rather than a bot message; the joined notice also carries the
agent's display name as `name`."""

from __future__ import annotations

from typing import Any

HANDOFF_META = "parley_handoff"
# On the knowledge answer's bot event: the question as the answerer read it, for the ledger.
# Rasa keeps it in the tracker; the channels never send it to the browser.
QUESTION_META = "parley_question"

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
# Sent as a HANDBACK notice: the bot is resumed, so the widget shows the AI as back.
ABANDONED_NOTICE = (
    "I'm sorry: nobody from our support team could take over this chat in time. You're "
    "talking to the AI assistant again; ask me anything, or ask for a person to try again."
)
# The same, when an agent had joined and then went quiet.
AGENT_LEFT_NOTICE = (
    "I'm sorry: our support team could not continue this chat. You're talking to the AI "
    "assistant again; ask me anything, or ask for a person to try again."
)


def outside_hours_notice(back: str) -> str:
    """The queued notice outside support hours; `back` is e.g. "Monday at 09:00 (… time)"."""
    return (
        "I've passed our conversation to our support team, with everything you told me. "
        f"They're away right now and will be back {back}; they will reply right here. If "
        "you'd rather hear from them by email, just leave your email address in this chat. "
        "Until then I'll stay quiet."
    )


def joined_notice(agent_name: str) -> str:
    return f"{agent_name} from support (human) joined the chat."


def notice_marker(kind: str, name: str = "") -> dict[str, Any]:
    """What goes under the bot event's `metadata.parley_handoff` for a notice."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    return {"kind": kind, "name": name} if name else {"kind": kind}
