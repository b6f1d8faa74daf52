"""Tables: conversations (the outcome ledger), handoffs (tickets), messages, outbox, cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


# Ownership states of a conversation.
BOT, QUEUED, AGENT, CLOSED = "bot", "queued", "agent", "closed"

# Ledger outcomes (see handoff/README.md for definitions).
RESOLVED_BY_BOT = "resolved_by_bot"
RESOLVED_BY_HUMAN = "resolved_by_human"
UNRESOLVED = "unresolved"
ABANDONED = "abandoned"

# What the agent picks in the Resolve form.
RESOLUTIONS = ("resolved", "not_resolved", "spam", "duplicate")


class Conversation(Base):
    """One row per customer conversation (Rasa sender id): the outcome ledger."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    state: Mapped[str] = mapped_column(String(16), default=BOT)
    current_handoff_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    first_bot_response_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_bot_abstained: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    csat: Mapped[int | None] = mapped_column(Integer, nullable=True)
    csat_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    handoff_count: Mapped[int] = mapped_column(Integer, default=0)


class Handoff(Base):
    """One handoff episode (a ticket in the queue) with its packet and timestamps."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    trigger: Mapped[str] = mapped_column(String(32))
    trigger_confidence: Mapped[float] = mapped_column(Float, default=1.0)
    trigger_detail: Mapped[str] = mapped_column(Text, default="")
    packet: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Timestamp of the newest Rasa event already shown in the packet's transcript; later
    # customer messages are relayed to the thread.
    transcript_until: Mapped[float] = mapped_column(Float, default=0.0)
    slack_channel: Mapped[str | None] = mapped_column(String(64), nullable=True)
    slack_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    agent_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    first_agent_reply_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    ended_as: Mapped[str | None] = mapped_column(String(16), nullable=True)  # bot | closed
    last_activity_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Message(Base):
    """Everything said during a handoff, in order: customer, agent and system lines."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("source_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # customer | agent | system
    author: Mapped[str] = mapped_column(String(255), default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    source_key: Mapped[str | None] = mapped_column(String(255), nullable=True)


class OutboxItem(Base):
    """A delivery to Slack or Rasa that must happen exactly once, retried until it does."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    handoff_id: Mapped[int] = mapped_column(Integer, index=True)
    target: Mapped[str] = mapped_column(String(16))  # slack | rasa
    op: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Cursor(Base):
    """How far a tailer has read an external log (the Rasa event broker table)."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


# What the knowledge answerer did with a question (knowledge/answer.py answer types).
ANSWERED, SUGGESTED, ABSTAINED = "kb", "suggest", "abstain"
VERDICTS = ("yes", "no")


class KnowledgeAnswer(Base):
    """One question the knowledge answerer was asked, and what it did: answered, suggested
    or abstained. Read from the bot's messages in Rasa's event stream; the report and the
    knowledge-gap loop (`python -m knowledge gaps`) count these."""

    __tablename__ = "knowledge_answers"
    __table_args__ = (UniqueConstraint("source_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    question: Mapped[str] = mapped_column(Text, default="")
    answer_type: Mapped[str] = mapped_column(String(16))
    article_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    article_title: Mapped[str | None] = mapped_column(String(512), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Who decided: "model" (the language model read the passages) or "offline" (the trained
    # confidence's bands); and the grounding check of the model's answer: "passed", "failed"
    # or none (no model answer was checked). None on rows from before they were recorded.
    decided_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    grounding: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # The Rasa event it came from: a replayed event is recorded once.
    source_key: Mapped[str | None] = mapped_column(String(255), nullable=True)


class AnswerFeedback(Base):
    """A customer's "did this help?" verdict on one knowledge answer or suggestion."""

    __tablename__ = "answer_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    question: Mapped[str] = mapped_column(Text, default="")
    article_path: Mapped[str] = mapped_column(String(512), default="")
    article_version: Mapped[str] = mapped_column(String(128), default="")
    answer_type: Mapped[str] = mapped_column(String(16), default=ANSWERED)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    verdict: Mapped[str] = mapped_column(String(8))  # yes | no
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
