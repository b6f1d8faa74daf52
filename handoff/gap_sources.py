"""The read side of the knowledge-gap loop (`python -m knowledge gaps`): what customers asked
that the knowledge base did not answer, taken from the handoff database.

Three kinds of evidence, each one item per customer question:
  abstained           the answerer said it did not know (a KnowledgeAnswer row, type abstain);
  said_no             the customer answered "No" to "did this help?" (AnswerFeedback);
  resolved_by_person  a person resolved the handoff; the agents' replies come along, since
                      they are what an editor turns into the missing article.
Texts are returned as stored; the caller redacts personal data before writing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from parley_shared.triggers import FRUSTRATION
from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.db import Database
from handoff.models import ABSTAINED, AnswerFeedback, Handoff, KnowledgeAnswer, Message

ABSTAINED_KIND = "abstained"
SAID_NO = "said_no"
RESOLVED_BY_PERSON = "resolved_by_person"
KINDS = (ABSTAINED_KIND, SAID_NO, RESOLVED_BY_PERSON)
# A handoff follows the question it is about within minutes; an older question in the same
# conversation (a returning customer) is about something else.
QUESTION_BEFORE_HANDOFF = timedelta(hours=1)

# Customer lines that ask for a person rather than ask the question itself.
_ASKS_FOR_PERSON = re.compile(
    r"\b(human|agent|person|someone|somebody|representative|operator|real people|staff)\b"
    r"|\b(talk|speak|chat)\s+(to|with)\b",
    re.IGNORECASE,
)
# Greetings and thanks in front of a line; what is left must still be a question.
_OPENING = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|thanks|thank you|ok|okay|"
    r"yes|no|please)\b[\s,.!:;-]*)+",
    re.IGNORECASE,
)
MIN_QUESTION_WORDS = 3


@dataclass(frozen=True)
class GapItem:
    sender_id: str
    question: str
    kind: str  # one of KINDS
    at: datetime  # naive UTC
    article_path: str | None = None  # the article the customer said "No" to, if any
    agent_replies: tuple[str, ...] = ()  # for resolved_by_person, in the order sent
    customer_name: str = ""  # from the handoff packet, so drafts can remove it
    agent_name: str = ""  # likewise: a help article names no member of staff


def collect(db: Database, since: datetime | None = None) -> list[GapItem]:
    """Every gap item at or after `since` (naive UTC; None: all), oldest first."""
    with db.session() as session:
        items = _abstentions(session, since) + _said_no(session, since)
        items += _resolved_by_person(session, since)
    return sorted(items, key=lambda item: (item.at, item.kind, item.sender_id))


def _abstentions(session: Session, since: datetime | None) -> list[GapItem]:
    query = select(KnowledgeAnswer).where(KnowledgeAnswer.answer_type == ABSTAINED)
    if since is not None:
        query = query.where(KnowledgeAnswer.created_at >= since)
    return [
        GapItem(row.sender_id, row.question.strip(), ABSTAINED_KIND, row.created_at)
        for row in session.scalars(query.order_by(KnowledgeAnswer.id))
        if row.question.strip()
    ]


def _said_no(session: Session, since: datetime | None) -> list[GapItem]:
    query = select(AnswerFeedback).where(AnswerFeedback.verdict == "no")
    if since is not None:
        query = query.where(AnswerFeedback.created_at >= since)
    return [
        GapItem(
            row.sender_id,
            row.question.strip(),
            SAID_NO,
            row.created_at,
            article_path=row.article_path or None,
        )
        for row in session.scalars(query.order_by(AnswerFeedback.id))
        if row.question.strip()
    ]


def _resolved_by_person(session: Session, since: datetime | None) -> list[GapItem]:
    query = select(Handoff).where(
        Handoff.resolution == "resolved", Handoff.resolved_at.is_not(None)
    )
    if since is not None:
        query = query.where(Handoff.resolved_at >= since)
    items = []
    for handoff in session.scalars(query.order_by(Handoff.id)):
        question = _question_of(session, handoff)
        if not question:
            continue
        messages = session.scalars(
            select(Message).where(Message.handoff_id == handoff.id).order_by(Message.id)
        )
        assert handoff.resolved_at is not None
        replies = tuple(m.text.strip() for m in messages if m.role == "agent" and m.text.strip())
        customer = (handoff.packet or {}).get("customer") or {}
        items.append(
            GapItem(
                handoff.sender_id,
                question,
                RESOLVED_BY_PERSON,
                handoff.resolved_at,
                agent_replies=replies,
                customer_name=str(customer.get("name") or "") if isinstance(customer, dict) else "",
                agent_name=handoff.agent_name or "",
            )
        )
    return items


def _question_of(session: Session, handoff: Handoff) -> str:
    """The customer's question behind a handoff: the last line of the packet's transcript
    that still asks something once greetings are set aside, and is neither a request for a
    person nor, when frustration triggered the handoff, the complaint that did; else the last
    question the answerer was asked shortly before. A chat that only asked for a person has
    no question (""): it tells nothing about the articles."""
    lines = _customer_lines(handoff.packet or {})
    if handoff.trigger == FRUSTRATION and lines:
        lines = lines[:-1]
    for line in reversed(lines):
        rest = _OPENING.sub("", line).strip()
        if not _ASKS_FOR_PERSON.search(rest) and len(rest.split()) >= MIN_QUESTION_WORDS:
            return line
    asked = session.scalar(
        select(KnowledgeAnswer.question)
        .where(
            KnowledgeAnswer.sender_id == handoff.sender_id,
            KnowledgeAnswer.created_at <= handoff.queued_at,
            KnowledgeAnswer.created_at >= handoff.queued_at - QUESTION_BEFORE_HANDOFF,
            KnowledgeAnswer.question != "",
        )
        .order_by(KnowledgeAnswer.created_at.desc(), KnowledgeAnswer.id.desc())
        .limit(1)
    )
    return asked.strip() if asked else ""


def _customer_lines(packet: dict[str, Any]) -> list[str]:
    transcript = packet.get("transcript") or []
    return [
        str(turn.get("text") or "").strip()
        for turn in transcript
        if isinstance(turn, dict) and turn.get("role") == "customer" and turn.get("text")
    ]
