"""Forgetting customers: `python -m handoff forget SENDER_ID` removes one conversation from
everywhere Parley keeps it, and the retention purge (`python -m handoff purge`, and daily in
the service when HANDOFF_RETENTION_DAYS is set) does that for every conversation idle longer
than the retention period.

Where a conversation lives, and how it is removed:
- Slack: the packet and its thread, deleted with chat.delete (replies first). The bot token
  can delete only the app's own messages; what agents wrote in the thread is reported, since
  only they or a workspace admin can delete it.
- Rasa's tracker store: Rasa 3.6's HTTP API cannot delete a conversation (PUT .../tracker/
  events only appends to a SQL tracker store), so a channel inside Rasa does it on Rasa's own
  store (bot/privacy_channel.py, `POST /webhooks/privacy/forget`, with Rasa's token); the
  retention purge asks it (`/activity`) who was active lately.
- Rasa's SQL event broker table (what the handoff service follows): its rows of the
  customer are deleted.
- The handoff database: the ledger row, handoffs, their messages and outbox deliveries, and
  the knowledge answers and feedback recorded for the sender.
Slack goes first: it needs the message ids kept in the handoff database, and if Slack cannot be
reached the command stops before anything else is removed, so running it again finishes it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import delete, inspect, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from handoff.db import Database, make_engine, rowcount
from handoff.models import (
    AnswerFeedback,
    Conversation,
    Handoff,
    KnowledgeAnswer,
    Message,
    OutboxItem,
    utcnow,
)
from handoff.rasa_client import DeliveryError, RasaClient
from handoff.settings import Settings

log = logging.getLogger(__name__)

# Already gone: nothing left to delete.
_GONE = {"message_not_found", "thread_not_found", "channel_not_found", "is_archived"}
# Not ours to delete: written by a person (agents' replies) or otherwise protected.
_NOT_OURS = {"cant_delete_message", "compliance_exports_prevent_deletion"}
DAILY = timedelta(days=1)


class ForgetError(Exception):
    """Forgetting could not finish; the message says what is left and what to do."""


@dataclass
class ForgetReport:
    """What was removed for one or more conversations, and what could not be."""

    senders: list[str] = field(default_factory=list)
    rasa_events: int = 0
    conversations: int = 0
    handoffs: int = 0
    messages: int = 0
    outbox_items: int = 0
    knowledge_answers: int = 0
    feedback: int = 0
    slack_deleted: int = 0
    slack_kept: list[str] = field(default_factory=list)  # "channel ts" of messages left
    failed: list[str] = field(default_factory=list)  # "sender: why", from a purge

    def add(self, other: ForgetReport) -> None:
        self.senders.extend(other.senders)
        for name in (
            "rasa_events",
            "conversations",
            "handoffs",
            "messages",
            "outbox_items",
            "knowledge_answers",
            "feedback",
            "slack_deleted",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.slack_kept.extend(other.slack_kept)
        self.failed.extend(other.failed)

    @property
    def removed_anything(self) -> bool:
        return bool(
            self.rasa_events
            or self.conversations
            or self.handoffs
            or self.knowledge_answers
            or self.feedback
            or self.slack_deleted
        )

    def lines(self) -> list[str]:
        out = [
            f"Rasa tracker store: {self.rasa_events} events",
            f"handoff database: {self.conversations} ledger rows, {self.handoffs} handoffs, "
            f"{self.messages} handoff messages, {self.outbox_items} outbox deliveries, "
            f"{self.knowledge_answers} knowledge answers, {self.feedback} answer feedback",
            f"Slack: {self.slack_deleted} messages deleted",
        ]
        if self.slack_kept:
            out.append(
                f"Slack: {len(self.slack_kept)} messages NOT deleted: agents wrote them, and "
                "only their authors or a workspace admin can delete them: "
                + ", ".join(self.slack_kept)
            )
        out.extend(f"NOT forgotten: {failure}" for failure in self.failed)
        return out


def _count(result: object) -> int:
    return rowcount(result)


class SlackEraser:
    """Deletes a packet and its whole thread through the Web API."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def _thread(self, channel: str, ts: str) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            resp = self.client.conversations_replies(
                channel=channel, ts=ts, limit=200, cursor=cursor
            )
            yield from resp.get("messages") or []
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def erase_thread(self, channel: str, ts: str, report: ForgetReport) -> None:
        try:
            stamps = [str(m["ts"]) for m in self._thread(channel, ts) if m.get("ts")]
        except SlackApiError as exc:
            if exc.response.get("error") in _GONE:
                return
            raise
        # Replies first: a deleted parent with replies stays as "This message was deleted".
        ordered = [s for s in stamps if s != ts] + [ts]
        for stamp in dict.fromkeys(ordered):
            try:
                self.client.chat_delete(channel=channel, ts=stamp)
                report.slack_deleted += 1
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error in _GONE:
                    continue
                if error in _NOT_OURS:
                    report.slack_kept.append(f"{channel} {stamp}")
                    continue
                raise


def _broker_urls(settings: Settings) -> list[str]:
    broker = settings.event_broker_url
    return [broker] if broker and not broker.startswith(("amqp://", "amqps://")) else []


def _sqlite_missing(url: str) -> bool:
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()


class Forgetter:
    def __init__(
        self,
        db: Database,
        rasa: RasaClient | None,
        slack: SlackEraser | None,
        default_channel: str = "",
        keep_slack: bool = False,
        broker_urls: list[str] | None = None,
    ) -> None:
        self.db = db
        self.rasa = rasa
        self.broker_urls = broker_urls or []
        self.slack = slack
        self.default_channel = default_channel
        self.keep_slack = keep_slack

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, keep_slack: bool = False) -> Forgetter:
        slack = None
        if settings.slack_enabled:
            from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

            from handoff.slack_delivery import make_web_client

            client = make_web_client(settings.slack_bot_token, settings.slack_api_url)
            # Deleting a long history meets chat.delete's rate limit: wait as Slack asks.
            client.retry_handlers = [RateLimitErrorRetryHandler(max_retry_count=10)]
            slack = SlackEraser(client)
        rasa = RasaClient(settings.rasa_url, settings.rasa_token, timeout=30.0)
        return cls(db, rasa, slack, settings.slack_channel, keep_slack, _broker_urls(settings))

    # -- one conversation -------------------------------------------------------------
    def forget(self, sender_id: str) -> ForgetReport:
        report = ForgetReport(senders=[sender_id])
        with self.db.session() as session:
            handoffs = session.scalars(select(Handoff).where(Handoff.sender_id == sender_id)).all()
            ids = [h.id for h in handoffs]
            posted = [
                (h.slack_channel or self.default_channel, h.slack_ts)
                for h in handoffs
                if h.slack_ts
            ]
            # Nothing more may be posted about this customer while they are being forgotten.
            report.outbox_items += _count(
                session.execute(delete(OutboxItem).where(OutboxItem.handoff_id.in_(ids)))
            )
        self._erase_slack(posted, report)
        report.rasa_events += self._forget_in_rasa(sender_id)
        for url in self.broker_urls:
            report.rasa_events += self._delete_rasa_events(url, sender_id)
        with self.db.session() as session:
            report.outbox_items += _count(
                session.execute(delete(OutboxItem).where(OutboxItem.handoff_id.in_(ids)))
            )
            report.messages += _count(
                session.execute(delete(Message).where(Message.handoff_id.in_(ids)))
            )
            report.handoffs += _count(
                session.execute(delete(Handoff).where(Handoff.sender_id == sender_id))
            )
            report.conversations += _count(
                session.execute(delete(Conversation).where(Conversation.sender_id == sender_id))
            )
            report.knowledge_answers += _count(
                session.execute(
                    delete(KnowledgeAnswer).where(KnowledgeAnswer.sender_id == sender_id)
                )
            )
            report.feedback += _count(
                session.execute(delete(AnswerFeedback).where(AnswerFeedback.sender_id == sender_id))
            )
        return report

    def _erase_slack(self, posted: list[tuple[str, str]], report: ForgetReport) -> None:
        if not posted or self.keep_slack:
            return
        if self.slack is None:
            raise ForgetError(
                f"{len(posted)} handoff packets of this customer are in Slack, but Slack is not "
                "configured here: set SLACK_BOT_TOKEN (and SLACK_API_URL if not Slack's) as for "
                "the handoff service, or pass --keep-slack to leave them. Nothing was removed "
                "except deliveries not yet sent."
            )
        for channel, ts in posted:
            try:
                self.slack.erase_thread(channel, ts, report)
            except Exception as exc:  # noqa: BLE001 - reported; a rerun finishes the job
                raise ForgetError(
                    f"Slack could not be reached or refused ({exc}); nothing was removed from "
                    "Rasa or the handoff database yet. Run the command again."
                ) from exc

    def _forget_in_rasa(self, sender_id: str) -> int:
        if self.rasa is None:
            return 0
        try:
            return self.rasa.forget(sender_id)
        except (DeliveryError, httpx.HTTPError) as exc:
            raise ForgetError(
                f"Rasa could not delete the conversation ({exc}); is Rasa running at "
                f"{self.rasa.base_url} with RASA_TOKEN? Run the command again (Slack is done; "
                "the handoff database is untouched)."
            ) from exc

    def _delete_rasa_events(self, url: str, sender_id: str) -> int:
        """The customer's rows in Rasa's SQL event broker table (not the tracker store)."""
        if _sqlite_missing(url):
            return 0
        engine = make_engine(url, wal=False)
        try:
            if not inspect(engine).has_table("events"):
                return 0
            with engine.begin() as conn:
                result = conn.execute(
                    text("DELETE FROM events WHERE sender_id = :sender"), {"sender": sender_id}
                )
                return _count(result)
        except SQLAlchemyError as exc:
            raise ForgetError(
                f"could not delete the conversation from Rasa's event broker table ({exc}); "
                "run the command again (Slack is done; the handoff database is untouched)."
            ) from exc
        finally:
            engine.dispose()

    # -- retention --------------------------------------------------------------------
    def stale_senders(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        """Conversations with no activity for `older_than`, in every store that has them."""
        cutoff = (now or utcnow()) - older_than
        with self.db.session() as session:
            candidates = set(
                session.scalars(
                    select(Conversation.sender_id).where(
                        or_(
                            Conversation.last_activity_at < cutoff,
                            Conversation.last_activity_at.is_(None)
                            & (Conversation.started_at < cutoff),
                        )
                    )
                ).all()
            )
        cutoff_ts = cutoff.replace(tzinfo=UTC).timestamp()
        last = self.rasa.last_events() if self.rasa is not None else {}
        candidates |= {sender for sender, ts in last.items() if ts < cutoff_ts}
        recent = {sender for sender, ts in last.items() if ts >= cutoff_ts}
        # Someone still chatting in Rasa is kept, whatever the handoff database says.
        return sorted(candidates - recent)

    def purge(self, older_than: timedelta, now: datetime | None = None) -> ForgetReport:
        """Forget every conversation idle for longer than `older_than`."""
        total = ForgetReport()
        for sender_id in self.stale_senders(older_than, now):
            try:
                total.add(self.forget(sender_id))
            except ForgetError as exc:
                total.failed.append(f"{sender_id}: {exc}")
        return total


class RetentionLoop:
    """Runs the purge once at start and then daily, inside `python -m handoff serve`."""

    def __init__(self, forgetter: Forgetter, days: int, interval: timedelta = DAILY) -> None:
        self.forgetter = forgetter
        self.days = days
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> ForgetReport | None:
        try:
            report = self.forgetter.purge(timedelta(days=self.days))
        except Exception:  # noqa: BLE001 - tried again at the next run
            log.exception("retention purge failed; it runs again in %s", self.interval)
            return None
        if report.senders:
            log.info(
                "retention purge (older than %d days): forgot %d conversations; %s",
                self.days,
                len(report.senders),
                "; ".join(report.lines()),
            )
        if report.failed:
            log.error(
                "retention purge: %d conversations could not be forgotten (tried again at the "
                "next run): %s",
                len(report.failed),
                "; ".join(report.failed),
            )
        return report

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval.total_seconds())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
