"""The handoff service: one ownership state machine shared by Slack, the console and the
action server. Every side effect (Slack post, message to the customer) is written to the
persistent outbox in the same transaction as the state change, so nothing is lost."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from parley_shared.phrases import phrase
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.db import Database, rowcount
from handoff.models import (
    ABANDONED,
    ABSTAINED,
    AGENT,
    ANSWERED,
    BOT,
    CLOSED,
    QUEUED,
    RESOLUTIONS,
    RESOLVED_BY_BOT,
    RESOLVED_BY_HUMAN,
    SUGGESTED,
    UNRESOLVED,
    VERDICTS,
    AnswerFeedback,
    Conversation,
    Handoff,
    KnowledgeAnswer,
    Message,
    OutboxItem,
    utcnow,
)
from handoff.notices import (
    AI_BACK_NOTICE,
    CLOSED_NOTICE,
    HANDBACK,
    JOINED,
    QUESTION_META,
    QUEUED_NOTICE,
    joined_notice,
    notice_marker,
)
from handoff.notices import CLOSED as CLOSED_KIND
from handoff.outbox import record_outcome
from handoff.packet import MESSAGE_TEXT_LIMIT, transcript_chunks, transcript_is_long
from handoff.plain_text import one_line
from handoff.slack_text import escape, truncate

log = logging.getLogger(__name__)

__all__ = ["AI_BACK_NOTICE", "CLOSED_NOTICE", "QUEUED_NOTICE", "HandoffError", "HandoffService"]


class HandoffError(Exception):
    """A refused or impossible operation; the message is safe to show to an agent."""


@dataclass(frozen=True)
class OpenResult:
    handoff_id: int
    created: bool


ANSWER_TYPES = (ANSWERED, SUGGESTED, ABSTAINED)


def _label(value: Any) -> str | None:
    """A short label from a payload (who decided, the grounding verdict), or None."""
    return value[:16] if isinstance(value, str) and value else None


def _at(ts: Any) -> datetime | None:
    """Naive UTC from Unix seconds (the times Rasa's events carry)."""
    return datetime.fromtimestamp(float(ts), UTC).replace(tzinfo=None) if ts else None


def _language(h: Handoff) -> str | None:
    """The customer's language, as the handoff packet recorded it."""
    packet = h.packet if isinstance(h.packet, dict) else {}
    found = packet.get("language")
    return found if isinstance(found, str) else None


def _outcome_for(resolution: str) -> str:
    return RESOLVED_BY_HUMAN if resolution == "resolved" else UNRESOLVED


def _retry_on_conflict(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Another process (the action server or the event tail) may create the same
    conversation row at the same moment; the loser simply runs its transaction again."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(3):
            try:
                return fn(*args, **kwargs)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


class HandoffService:
    def __init__(
        self,
        db: Database,
        slack_channel: str = "",
        wake: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.slack_channel = slack_channel
        self._wake = wake or (lambda: None)
        # Naive UTC "now"; the demo filler replays a month through these same methods.
        self._now = clock
        self._last_question: OrderedDict[str, str] = OrderedDict()

    # -- outbox helpers -------------------------------------------------------------
    @staticmethod
    def _enqueue(
        session: Session, key: str, handoff_id: int, target: str, op: str, payload: dict[str, Any]
    ) -> None:
        exists = session.scalar(select(OutboxItem.id).where(OutboxItem.key == key))
        if exists is None:
            session.add(
                OutboxItem(key=key, handoff_id=handoff_id, target=target, op=op, payload=payload)
            )

    def _to_customer(
        self,
        session: Session,
        h: Handoff,
        key: str,
        text: str,
        *,
        resume: bool = False,
        agent: str | None = None,
        notice: str | None = None,
        name: str = "",
    ) -> None:
        """An agent's message (`agent`) or a handoff notice of kind `notice`."""
        payload: dict[str, Any] = {"sender_id": h.sender_id, "text": text, "resume": resume}
        if agent:
            payload["agent"] = agent
        if notice:
            payload["notice"] = notice_marker(notice, name)
        self._enqueue(session, key, h.id, "rasa", "bot_message", payload)

    def _to_thread(self, session: Session, h: Handoff, key: str, text: str) -> None:
        self._enqueue(session, key, h.id, "slack", "post_thread", {"text": text})

    def _refresh_packet(self, session: Session, h: Handoff, key: str) -> None:
        self._enqueue(session, key, h.id, "slack", "update_packet", {})

    def _log(
        self,
        session: Session,
        h: Handoff,
        role: str,
        author: str,
        text: str,
        source_key: str | None = None,
    ) -> None:
        session.add(
            Message(
                handoff_id=h.id,
                role=role,
                author=author,
                text=text,
                source_key=source_key,
                created_at=self._now(),
            )
        )

    def _conversation(self, session: Session, sender_id: str) -> Conversation:
        conv = session.scalar(select(Conversation).where(Conversation.sender_id == sender_id))
        if conv is None:
            conv = Conversation(
                sender_id=sender_id,
                state=BOT,
                started_at=self._now(),
                last_activity_at=self._now(),
                handoff_count=0,
                last_bot_abstained=0,
            )
            session.add(conv)
            session.flush()
        return conv

    def _get(self, session: Session, handoff_id: int) -> Handoff:
        h = session.get(Handoff, handoff_id, with_for_update=False)
        if h is None:
            raise HandoffError(f"There is no handoff #{handoff_id}.")
        return h

    # -- the state machine ----------------------------------------------------------
    @_retry_on_conflict
    def open_handoff(
        self,
        sender_id: str,
        packet: dict[str, Any],
        first_bot_response_at: datetime | None = None,
        started_at: datetime | None = None,
        request_key: str | None = None,
    ) -> OpenResult:
        """bot -> queued. Idempotent: a conversation already queued or with an agent keeps
        its open handoff, and a request (`request_key`) opens at most one handoff, however
        often it comes (the action's call, then Rasa's event broker)."""
        source_key = f"request:{request_key}" if request_key else None
        with self.db.session() as session:
            if source_key:
                earlier = session.scalar(
                    select(Message.handoff_id).where(Message.source_key == source_key)
                )
                if earlier is not None:
                    return OpenResult(int(earlier), created=False)
            conv = self._conversation(session, sender_id)
            if conv.state in (QUEUED, AGENT) and conv.current_handoff_id:
                return OpenResult(conv.current_handoff_id, created=False)
            now = self._now()
            h = Handoff(
                conversation_id=conv.id,
                sender_id=sender_id,
                state=QUEUED,
                trigger=str(packet.get("trigger") or "explicit_request"),
                trigger_confidence=float(packet.get("confidence") or 1.0),
                trigger_detail=str(packet.get("trigger_detail") or ""),
                packet=packet,
                transcript_until=float(packet.get("transcript_until") or 0.0),
                slack_channel=self.slack_channel or None,
                queued_at=now,
                last_activity_at=now,
            )
            session.add(h)
            session.flush()
            conv.state = QUEUED
            conv.current_handoff_id = h.id
            conv.handoff_count = (conv.handoff_count or 0) + 1
            conv.outcome = None
            conv.ended_at = None
            conv.last_activity_at = now
            if started_at and (conv.started_at is None or started_at < conv.started_at):
                conv.started_at = started_at
            if first_bot_response_at and conv.first_bot_response_at is None:
                conv.first_bot_response_at = first_bot_response_at
            self._enqueue(session, f"h{h.id}:packet", h.id, "slack", "post_packet", {})
            if transcript_is_long(packet):
                for i, chunk in enumerate(transcript_chunks(packet)):
                    self._to_thread(session, h, f"h{h.id}:transcript:{i}", chunk)
            self._log(session, h, "system", "", "Handoff opened: " + h.trigger, source_key)
            handoff_id = h.id
        self._wake()
        return OpenResult(handoff_id, created=True)

    def open_requested(self, sender_id: str, request: dict[str, Any]) -> OpenResult:
        """A handoff request as the action server sends it (HTTP, or the `handoff_request`
        slot on Rasa's event broker): `{"key", "packet", "started_at",
        "first_bot_response_at"}`, times as Unix seconds."""
        return self.open_handoff(
            sender_id,
            dict(request["packet"]),
            first_bot_response_at=_at(request.get("first_bot_response_at")),
            started_at=_at(request.get("started_at")),
            request_key=str(request.get("key") or "") or None,
        )

    def state(self, sender_id: str) -> dict[str, str]:
        """What the widget shows: `bot`, `queued`, `agent` (with the agent's name) or
        `closed` (a person resolved it; the bot is back)."""
        with self.db.session() as session:
            conv = session.scalar(select(Conversation).where(Conversation.sender_id == sender_id))
            if conv is None or conv.state not in (QUEUED, AGENT, CLOSED):
                return {"state": BOT, "agent": ""}
            h = session.get(Handoff, conv.current_handoff_id) if conv.current_handoff_id else None
            agent = (h.agent_name or "") if h is not None and conv.state == AGENT else ""
            return {"state": conv.state, "agent": agent}

    def claim(self, handoff_id: int, agent_id: str, agent_name: str) -> Handoff:
        """queued -> agent. Only one agent wins; everyone else gets a polite refusal."""
        with self.db.session() as session:
            now = self._now()
            won = rowcount(
                session.execute(
                    update(Handoff)
                    .where(Handoff.id == handoff_id, Handoff.state == QUEUED)
                    .values(
                        state=AGENT,
                        agent_id=agent_id,
                        agent_name=agent_name,
                        claimed_at=now,
                        last_activity_at=now,
                    )
                )
            )
            h = self._get(session, handoff_id)
            session.refresh(h)
            if not won:
                if h.state == AGENT and h.agent_id == agent_id:
                    return h
                if h.state == AGENT:
                    raise HandoffError(
                        f"Handoff #{handoff_id} is already claimed by {h.agent_name}."
                    )
                raise HandoffError(f"Handoff #{handoff_id} is already closed.")
            conv = session.get(Conversation, h.conversation_id)
            assert conv is not None
            conv.state = AGENT
            conv.last_activity_at = now
            self._log(session, h, "system", agent_name, f"{agent_name} claimed the chat")
            self._refresh_packet(session, h, f"h{h.id}:claimed:update")
            self._to_thread(
                session,
                h,
                f"h{h.id}:claimed:thread",
                f":raising_hand: <@{agent_id}> claimed this chat. Replies in this thread "
                "go to the customer.",
            )
            self._to_customer(
                session,
                h,
                f"h{h.id}:claimed:customer",
                joined_notice(agent_name, _language(h)),
                notice=JOINED,
                name=agent_name,
            )
        self._wake()
        return h

    def agent_reply(
        self, handoff_id: int, agent_id: str, text: str, source_key: str | None = None
    ) -> bool:
        """An agent's message to the customer. Only the owner may talk to the customer;
        returns False (nothing sent) for a duplicate delivery of the same Slack message."""
        text = text.strip()
        if not text:
            raise HandoffError("An empty message cannot be sent.")
        with self.db.session() as session:
            h = self._get(session, handoff_id)
            if h.state != AGENT:
                raise HandoffError(
                    f"Handoff #{handoff_id} is not claimed; claim it before replying."
                    if h.state == QUEUED
                    else f"Handoff #{handoff_id} is closed."
                )
            if h.agent_id != agent_id:
                raise HandoffError(f"Only {h.agent_name}, who claimed this chat, can reply.")
            key = source_key or f"h{h.id}:agent:{self._now().timestamp()}"
            if session.scalar(select(Message.id).where(Message.source_key == key)):
                return False
            now = self._now()
            if h.first_agent_reply_at is None:
                h.first_agent_reply_at = now
            h.last_activity_at = now
            self._log(session, h, "agent", h.agent_name or agent_id, text, source_key=key)
            self._to_customer(session, h, f"rasa:{key}", text, agent=h.agent_name)
            conv = session.get(Conversation, h.conversation_id)
            if conv is not None:
                conv.last_activity_at = now
        self._wake()
        return True

    def customer_message(
        self, sender_id: str, text: str, timestamp: float, source_key: str
    ) -> int | None:
        """A customer line logged by Rasa while a person owns (or will own) the chat:
        relay it to the thread. Returns the handoff id it went to, or None."""
        with self.db.session() as session:
            conv = session.scalar(select(Conversation).where(Conversation.sender_id == sender_id))
            if conv is None or conv.state not in (QUEUED, AGENT) or not conv.current_handoff_id:
                return None
            h = self._get(session, conv.current_handoff_id)
            if timestamp and timestamp <= h.transcript_until:
                return None  # already in the packet's transcript
            if session.scalar(select(Message.id).where(Message.source_key == source_key)):
                return None
            now = self._now()
            h.last_activity_at = now
            conv.last_activity_at = now
            self._log(session, h, "customer", "", text, source_key=source_key)
            # One line, so the customer cannot forge a "*Bot:*" line; cut to Slack's size.
            relayed = truncate(f"*Customer:* {escape(one_line(text))}", MESSAGE_TEXT_LIMIT)
            self._to_thread(session, h, f"slack:{source_key}", relayed)
            handoff_id = h.id
        self._wake()
        return handoff_id

    def resolve(
        self,
        handoff_id: int,
        agent_id: str,
        resolution: str,
        note: str = "",
        hand_back: bool = True,
        agent_name: str = "",
    ) -> Handoff:
        """agent -> bot (hand back) or agent -> closed, with the agent's outcome."""
        if resolution not in RESOLUTIONS:
            raise HandoffError(
                f"Unknown outcome {resolution!r}; choose one of: {', '.join(RESOLUTIONS)}."
            )
        with self.db.session() as session:
            h = self._get(session, handoff_id)
            if h.state == QUEUED and resolution in ("spam", "duplicate"):
                # Spam and duplicates can be closed straight from the queue.
                h.agent_id, h.agent_name = agent_id, agent_name or agent_id
            elif h.state != AGENT:
                raise HandoffError(
                    f"Handoff #{handoff_id} is not claimed yet; claim it first."
                    if h.state == QUEUED
                    else f"Handoff #{handoff_id} is already closed."
                )
            elif h.agent_id != agent_id:
                raise HandoffError(f"Only {h.agent_name}, who claimed this chat, can resolve it.")
            now = self._now()
            end_state = BOT if hand_back else CLOSED
            h.state = CLOSED
            h.resolution = resolution
            h.resolution_note = note or None
            h.resolved_at = now
            h.ended_as = end_state
            h.last_activity_at = now
            conv = session.get(Conversation, h.conversation_id)
            assert conv is not None
            conv.state = end_state
            conv.current_handoff_id = None
            conv.outcome = _outcome_for(resolution)
            conv.last_activity_at = now
            if not hand_back:
                conv.ended_at = now
            self._log(
                session,
                h,
                "system",
                h.agent_name or "",
                f"Resolved as {resolution}" + (f": {note}" if note else ""),
            )
            self._refresh_packet(session, h, f"h{h.id}:resolved:update")
            after = "handed back to the AI assistant" if hand_back else "closed"
            self._to_thread(
                session,
                h,
                f"h{h.id}:resolved:thread",
                f":white_check_mark: <@{h.agent_id}> resolved this chat as *{resolution}*"
                + (f" ({escape(note)})" if note else "")
                + f"; it is {after}.",
            )
            if hand_back:
                self._to_customer(
                    session,
                    h,
                    f"h{h.id}:resolved:customer",
                    phrase("ai_back", _language(h)),
                    resume=True,
                    notice=HANDBACK,
                )
            else:
                self._to_customer(
                    session,
                    h,
                    f"h{h.id}:resolved:customer",
                    phrase("closed", _language(h)),
                    notice=CLOSED_KIND,
                )
        self._wake()
        return h

    # -- ledger ---------------------------------------------------------------------
    @_retry_on_conflict
    def note_rasa_event(self, event: dict[str, Any]) -> None:
        """Keep the ledger's per-conversation timestamps from Rasa's event stream."""
        sender_id = event.get("sender_id")
        kind = event.get("event")
        if not sender_id or kind not in ("user", "bot", "slot"):
            return
        ts = event.get("timestamp")
        at = datetime.fromtimestamp(float(ts), UTC).replace(tzinfo=None) if ts else self._now()
        with self.db.session() as session:
            conv = self._conversation(session, sender_id)
            if conv.started_at is None or at < conv.started_at:
                conv.started_at = at
            if kind == "slot":
                if event.get("name") == "kb_answer_type":
                    conv.last_bot_abstained = (
                        1 if event.get("value") in ("abstain", "declined") else 0
                    )
                return
            if conv.last_activity_at is None or at > conv.last_activity_at:
                conv.last_activity_at = at
            ours = bool((event.get("metadata") or {}).get("parley_handoff"))
            if kind == "bot" and not ours and conv.first_bot_response_at is None:
                conv.first_bot_response_at = at
            if kind == "user" and conv.state == CLOSED and conv.outcome is None:
                conv.state = BOT
            if conv.state == BOT and conv.outcome is not None and conv.handoff_count == 0:
                conv.outcome = None  # the customer came back: the conversation is live again
            if kind == "user":
                self._remember_question(sender_id, str(event.get("text") or ""))
            elif kind == "bot" and not ours:
                self._note_knowledge_answer(session, sender_id, event, at)

    def _remember_question(self, sender_id: str, text: str) -> None:
        # The answer's payload names its question; this covers answers from before it did.
        self._last_question[sender_id] = text
        self._last_question.move_to_end(sender_id)
        while len(self._last_question) > 10_000:
            self._last_question.popitem(last=False)

    def _note_knowledge_answer(
        self, session: Session, sender_id: str, event: dict[str, Any], at: datetime
    ) -> None:
        """A bot message carrying the answerer's payload becomes a KnowledgeAnswer row."""
        custom = (event.get("data") or {}).get("custom")
        if not isinstance(custom, dict) or custom.get("answer_type") not in ANSWER_TYPES:
            return
        key = f"rasa:{sender_id}:{event.get('timestamp')!r}:answer"
        if session.scalar(select(KnowledgeAnswer.id).where(KnowledgeAnswer.source_key == key)):
            return
        sources = [s for s in custom.get("sources") or [] if isinstance(s, dict)]
        top = sources[0] if sources else {}
        confidence = custom.get("confidence", top.get("score"))
        # The action puts the question in the bot event's metadata (never sent to the
        # browser); older payloads carried it in the custom payload.
        question = (event.get("metadata") or {}).get(QUESTION_META, custom.get("question"))
        if not isinstance(question, str):
            question = self._last_question.get(sender_id, "")
        session.add(
            KnowledgeAnswer(
                sender_id=sender_id,
                question=question[:2000],
                answer_type=str(custom["answer_type"]),
                article_path=str(top["path"]) if top.get("path") else None,
                article_title=str(top["title"]) if top.get("title") else None,
                confidence=float(confidence) if isinstance(confidence, int | float) else None,
                decided_by=_label(custom.get("decided_by")),
                grounding=_label(custom.get("grounding")),
                created_at=at,
                source_key=key,
            )
        )

    def record_feedback(
        self,
        sender_id: str,
        verdict: str,
        question: str = "",
        article_path: str = "",
        article_version: str = "",
        answer_type: str = ANSWERED,
        confidence: float | None = None,
        at: float | None = None,
    ) -> bool:
        """The customer's "did this help?" on a knowledge answer or suggestion. `at` (Unix
        seconds, when the customer answered) makes it idempotent: the action server's call and
        the `answer_feedback` slot on Rasa's broker may both bring the same verdict, and only
        the first is stored. False when it was already there."""
        if verdict not in VERDICTS:
            raise HandoffError(f"Feedback must be one of {', '.join(VERDICTS)}, got {verdict!r}.")
        if answer_type not in ANSWER_TYPES:
            raise HandoffError(f"Unknown answer type {answer_type!r}.")
        created_at = _at(at) or self._now()
        with self.db.session() as session:
            if at is not None and session.scalar(
                select(AnswerFeedback.id).where(
                    AnswerFeedback.sender_id == sender_id,
                    AnswerFeedback.verdict == verdict,
                    AnswerFeedback.created_at == created_at,
                )
            ):
                return False
            session.add(
                AnswerFeedback(
                    sender_id=sender_id,
                    question=question[:2000],
                    article_path=article_path[:512],
                    article_version=article_version[:128],
                    answer_type=answer_type,
                    confidence=confidence,
                    verdict=verdict,
                    created_at=created_at,
                )
            )
        return True

    def record_feedback_from(self, sender_id: str, data: dict[str, Any]) -> bool:
        """A verdict as the action server sends it (`/internal/feedback`, or the
        `answer_feedback` slot on Rasa's event broker when that call did not get through)."""
        confidence, at = data.get("confidence"), data.get("at")
        return self.record_feedback(
            sender_id,
            str(data.get("verdict") or ""),
            question=str(data.get("question") or ""),
            article_path=str(data.get("article_path") or ""),
            article_version=str(data.get("article_version") or ""),
            answer_type=str(data.get("answer_type") or ANSWERED),
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
            at=float(at) if isinstance(at, int | float) else None,
        )

    @_retry_on_conflict
    def record_csat(self, sender_id: str, score: int, comment: str = "") -> None:
        if not 1 <= score <= 5:
            raise HandoffError("CSAT must be between 1 and 5.")
        with self.db.session() as session:
            conv = self._conversation(session, sender_id)
            conv.csat = score
            conv.csat_comment = comment or None

    def sweep_idle(self, idle: timedelta, now: datetime | None = None) -> int:
        """Give idle conversations their final outcome. A handoff nobody finished becomes
        `abandoned`; a bot-only conversation becomes `resolved_by_bot`, or `unresolved`
        when the bot's last answer was an abstention. Returns how many rows changed."""
        now = now or self._now()
        cutoff = now - idle
        changed = 0
        with self.db.session() as session:
            stale = session.scalars(
                select(Conversation).where(
                    Conversation.outcome.is_(None),
                    Conversation.last_activity_at < cutoff,
                )
            ).all()
            for conv in stale:
                if conv.state in (QUEUED, AGENT) and conv.current_handoff_id:
                    h = self._get(session, conv.current_handoff_id)
                    if h.last_activity_at and h.last_activity_at >= cutoff:
                        continue
                    h.state = CLOSED
                    h.ended_as = BOT
                    h.resolved_at = now
                    self._refresh_packet(session, h, f"h{h.id}:abandoned:update")
                    self._to_thread(
                        session,
                        h,
                        f"h{h.id}:abandoned:thread",
                        ":hourglass: No activity; marked as abandoned. The customer was told "
                        "and is talking to the AI assistant again.",
                    )
                    # Left paused, the customer would wait forever in silence: the bot
                    # resumes and says so.
                    self._to_customer(
                        session,
                        h,
                        f"h{h.id}:abandoned:customer",
                        phrase("abandoned" if h.claimed_at is None else "agent_left", _language(h)),
                        resume=True,
                        notice=HANDBACK,
                    )
                    conv.state = BOT
                    conv.current_handoff_id = None
                    conv.outcome = ABANDONED
                elif conv.state == BOT and conv.handoff_count == 0:
                    conv.outcome = UNRESOLVED if conv.last_bot_abstained else RESOLVED_BY_BOT
                elif conv.state == BOT:
                    continue  # handed back: keeps the agent's outcome
                else:
                    continue
                conv.ended_at = now
                changed += 1
        if changed:
            self._wake()
        return changed

    # -- queries --------------------------------------------------------------------
    def list_handoffs(self, states: tuple[str, ...] = (QUEUED, AGENT)) -> list[Handoff]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Handoff).where(Handoff.state.in_(states)).order_by(Handoff.id)
                ).all()
            )

    def get(self, handoff_id: int) -> Handoff:
        with self.db.session() as session:
            return self._get(session, handoff_id)

    def messages(self, handoff_id: int) -> list[Message]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Message).where(Message.handoff_id == handoff_id).order_by(Message.id)
                ).all()
            )

    def handoff_for_thread(self, channel: str, thread_ts: str) -> Handoff | None:
        with self.db.session() as session:
            return session.scalar(
                select(Handoff).where(
                    Handoff.slack_channel == channel, Handoff.slack_ts == thread_ts
                )
            )

    def packet_unconfirmed(self) -> bool:
        """Whether some packet's post is still pending, so its Slack ts is not known yet."""
        with self.db.session() as session:
            pending = select(OutboxItem.id).where(
                OutboxItem.op == "post_packet", OutboxItem.status == "pending"
            )
            return session.scalar(pending.limit(1)) is not None

    def packet_found(self, key: str, channel: str, ts: str) -> Handoff | None:
        """Our message `ts` in `channel` carries this packet's outbox key: a post whose outcome
        was unknown (a 5xx, a timeout) did land. Record it as the outbox's own look for the
        key would, so its thread is known now and what waited for the packet follows."""
        with self.db.session() as session:
            row = session.scalar(
                select(OutboxItem).where(OutboxItem.key == key, OutboxItem.op == "post_packet")
            )
            h = session.get(Handoff, row.handoff_id) if row is not None else None
            if row is None or h is None or h.slack_ts not in (None, ts):
                return None
            if row.status == "pending":
                result = {"ts": ts, "channel": channel, "found": True}
                record_outcome(session, row, "sent", result, row.last_error)
            elif h.slack_ts != ts:
                return None
        log.info("handoff #%s: packet found in Slack at %s/%s", row.handoff_id, channel, ts)
        self._wake()
        return self.handoff_for_thread(channel, ts)

    def pending_outbox(self) -> int:
        with self.db.session() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxItem)
                    .where(OutboxItem.status == "pending")
                )
                or 0
            )
