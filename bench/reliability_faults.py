"""Part 2 of the reliability campaign: faults while customers keep writing and agents keep
replying.

Episodes, one after another: kill -9 and restart the action server, Rasa, the handoff
service; a Slack 503 storm (every other failed post carried out by Slack all the same, as
happens when a response is lost) and a 429 storm with Retry-After; the handoff database held
in an exclusive transaction. In every episode a new customer asks for a person while the
fault is on and the agent answers every chat she owns. Afterwards: customer messages sent vs.
stored, handoffs asked for vs. packets posted, agent replies sent vs. delivered."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from bench.reliability_checks import Check, zero_check
from bench.reliability_rig import (
    Rig,
    SlackAgent,
    customer_address,
    exclusive_lock,
    handoff_id_of,
    paused_before_last_message,
    pending_outbox,
    read_only,
    refusal,
    rest_send,
    support_questions,
    tracker,
)
from handoff.notices import QUEUED_NOTICE
from tests.handoff.mock_web_api_server import Failure
from tests.handoff.slack_helpers import CHANNEL

ASK_FOR_A_PERSON = "I want to talk to a person"
# Between a reply and a steady customer's next message: each stays under the message guard's
# 60 messages a minute per address.
STEADY_INTERVAL = 1.5
RECOVERY_GRACE = 2.0  # seconds after a fault ends before silence counts as a stuck chat
_CIRCUIT_BREAKER = re.compile(
    r"Circuit breaker tripped\. Stopped predicting more actions for sender '([^']*)'"
)


def circuit_breaker_senders(rasa_log: Path) -> set[str]:
    """Conversations for which Rasa gave up predicting actions (its log says so)."""
    try:
        return set(_CIRCUIT_BREAKER.findall(rasa_log.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return set()


# --- customers ---------------------------------------------------------------------------


@dataclass
class SentMessage:
    conversation: str
    text: str
    kind: str  # greet | question | thanks | ask | in_handoff (the bot must stay quiet)
    first_sent: float  # monotonic
    attempts: int = 0
    accepted: int = 0  # attempts Rasa answered with 2xx
    answered_at: float | None = None  # monotonic time of a non-empty reply
    done_at: float = 0.0  # monotonic time the last attempt ended
    refused: str = ""  # the message guard refused it politely (not stored, by design)
    silent_by_design: bool = False  # no reply because a person owned the chat
    replies: list[dict[str, Any]] = field(default_factory=list)
    last_error: str = ""


def deliver(
    client: httpx.Client,
    rig: Rig,
    conversation: str,
    text: str,
    kind: str,
    retry_window: float,
    metadata: dict[str, str] | None = None,
    address: str = "",
) -> SentMessage:
    """One customer message, resent (as a widget would) while Rasa is unreachable or
    answers 5xx, for at most `retry_window` seconds. A 2xx is never resent."""
    sent = SentMessage(conversation, text, kind, time.monotonic())
    while True:
        sent.attempts += 1
        reply = rest_send(
            client, rig.rasa_url, conversation, text, metadata, timeout=30, address=address
        )
        sent.done_at = time.monotonic()
        if not reply.error:
            sent.replies = reply.replies
            sent.refused = refusal(reply.replies)
            if sent.refused:
                return sent
            sent.accepted += 1
            if reply.replies:
                sent.answered_at = time.monotonic()
            else:
                sent.silent_by_design = _was_paused(client, rig, conversation)
            return sent
        sent.last_error = reply.error
        if time.monotonic() - sent.first_sent + 1.0 > retry_window:
            return sent
        time.sleep(1.0)


def _was_paused(client: httpx.Client, rig: Rig, conversation: str) -> bool:
    """Whether a person owned the chat when its last message came (silence is right then)."""
    try:
        t = tracker(client, rig.rasa_url, rig.running.token, conversation)
    except (httpx.HTTPError, ValueError):
        return False  # Rasa went down meanwhile: count the silence
    return paused_before_last_message(t)


def _paused_now(client: httpx.Client, rig: Rig, conversation: str) -> bool:
    try:
        return bool(tracker(client, rig.rasa_url, rig.running.token, conversation).get("paused"))
    except (httpx.HTTPError, ValueError):
        return False


class SteadyCustomers:
    """`count` customers writing all the time, each in short conversations (greeting, a
    question the knowledge base answers, thanks) so that no trigger hands them off."""

    def __init__(
        self, rig: Rig, count: int, interval: float, retry_window: float, run_id: str
    ) -> None:
        self.rig = rig
        self.count = count
        self.interval = interval
        self.retry_window = retry_window
        self.run_id = run_id
        self.questions = support_questions()
        self.messages: list[SentMessage] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for k in range(self.count):
            t = threading.Thread(target=self._customer, args=(k,), daemon=True, name=f"cust{k}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.retry_window + 40)

    def _customer(self, k: int) -> None:
        address = customer_address(2, k)
        with httpx.Client() as client:
            n = 0
            while not self._stop.is_set():
                conversation = f"{self.run_id}-steady{k}-{n}"
                question = self.questions[(k * 7 + n) % len(self.questions)]
                for kind, text in (("greet", "hi"), ("question", question), ("thanks", "thanks")):
                    if self._stop.is_set():
                        return
                    sent = deliver(
                        client, self.rig, conversation, text, kind, self.retry_window,
                        address=address,
                    )  # fmt: skip
                    with self._lock:
                        self.messages.append(sent)
                    self._stop.wait(self.interval)
                    if sent.silent_by_design or _queued(sent.replies):
                        break  # a trigger handed the chat to a person: start another
                n += 1

    def snapshot(self) -> list[SentMessage]:
        with self._lock:
            return list(self.messages)


def _queued(replies: list[dict[str, Any]]) -> bool:
    return any(QUEUED_NOTICE in str(r.get("text") or "") for r in replies)


# --- handoffs and agents -----------------------------------------------------------------


@dataclass
class AgentReply:
    conversation: str
    text: str
    ts: str
    accepted: bool = False
    attempts: int = 0


@dataclass
class Ticket:
    """One customer who asks for a person during an episode, and Ana's work on it."""

    episode: str
    conversation: str
    address: str
    messages: list[SentMessage] = field(default_factory=list)
    queued: bool = False
    packet_ts: str | None = None
    handoff_id: str | None = None
    packet_seen_at: float | None = None
    claimed: bool = False
    replies: list[AgentReply] = field(default_factory=list)
    # What the customer wrote while waiting for or talking to Ana: each must reach the
    # Slack thread exactly once.
    thread_lines: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class Desk:
    """Tickets and Ana's replies, worked in background threads while the main thread
    breaks things."""

    def __init__(self, rig: Rig, retry_window: float, run_id: str) -> None:
        self.rig = rig
        self.retry_window = retry_window
        self.run_id = run_id
        self.agent = SlackAgent(rig, retry_window)
        self.tickets: list[Ticket] = []
        self.replies: list[AgentReply] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def open_ticket(self, episode: str) -> Ticket:
        n = len(self.tickets)
        ticket = Ticket(episode, f"{self.run_id}-ticket{n:02d}", customer_address(3, n))
        self.tickets.append(ticket)
        self._spawn(self._work_ticket, ticket)
        return ticket

    def reply_to_all(self, episode: str) -> list[AgentReply]:
        """Ana answers every chat she owns, once, now (while the fault is on)."""
        sent = []
        for ticket in [t for t in self.tickets if t.claimed]:
            reply = AgentReply(
                ticket.conversation, f"Agent note ({episode}) for {ticket.conversation}",
                self.agent.next_ts(),
            )  # fmt: skip
            with self._lock:
                self.replies.append(reply)
            sent.append(reply)
            self._spawn(self._post_reply, ticket, reply, len(self.replies) % 2 == 0)
        return sent

    def customers_write(self, episode: str) -> list[tuple[Ticket, str]]:
        """Every customer in a handoff writes one line, now (while the fault is on)."""
        lines = []
        for ticket in [t for t in self.tickets if t.queued and t.done.is_set()]:
            line = f"Customer line ({episode}) from {ticket.conversation}"
            lines.append((ticket, line))
            self._spawn(self._write_in_handoff, ticket, line)
        return lines

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _work_ticket(self, ticket: Ticket) -> None:
        try:
            with httpx.Client() as client:
                self._customer_side(client, ticket)
            if ticket.queued:
                self._agent_side(ticket)
        finally:
            ticket.done.set()

    def _customer_side(self, client: httpx.Client, ticket: Ticket) -> None:
        self._say(client, ticket, "hi", "greet")
        deadline = time.monotonic() + self.retry_window
        # A customer whose request was not taken (the bot said it could not reach the team,
        # or said nothing) asks again a little later.
        while time.monotonic() < deadline and not ticket.queued:
            ask = self._say(client, ticket, ASK_FOR_A_PERSON, "ask")
            if _queued(ask.replies):
                ticket.queued = True
            elif ask.accepted:
                # The notice may have been lost with a restart: the tracker knows.
                ticket.queued = _paused_now(client, self.rig, ticket.conversation)
            if not ticket.queued:
                time.sleep(3.0)
        if ticket.queued:
            self._write_in_handoff(
                ticket, f"I'm still here, waiting ({ticket.conversation})", client
            )

    def _write_in_handoff(
        self, ticket: Ticket, line: str, client: httpx.Client | None = None
    ) -> None:
        ticket.thread_lines.append(line)
        if client is not None:
            self._say(client, ticket, line, "in_handoff")
            return
        with httpx.Client() as own:
            self._say(own, ticket, line, "in_handoff")

    def _say(self, client: httpx.Client, ticket: Ticket, text: str, kind: str) -> SentMessage:
        meta = {"name": ticket.conversation}  # the packet names the customer: found by it
        sent = deliver(
            client, self.rig, ticket.conversation, text, kind, self.retry_window, meta,
            ticket.address,
        )  # fmt: skip
        ticket.messages.append(sent)
        return sent

    def _agent_side(self, ticket: Ticket) -> None:
        deadline = time.monotonic() + self.retry_window * 2
        while time.monotonic() < deadline and ticket.packet_ts is None:
            hid = handoff_ids(self.rig.handoff_db).get(ticket.conversation)
            if hid:
                posted = packets(self.rig).get(hid[0], [])
                if posted:
                    ticket.handoff_id, ticket.packet_ts = hid[0], posted[0]
                    ticket.packet_seen_at = time.monotonic()
                    break
            time.sleep(0.3)
        if ticket.packet_ts is None or ticket.handoff_id is None:
            return
        ticket.claimed = self.agent.claim(ticket.handoff_id, ticket.packet_ts).accepted
        if ticket.claimed:
            reply = AgentReply(
                ticket.conversation, f"Hello, Ana here for {ticket.conversation}",
                self.agent.next_ts(),
            )  # fmt: skip
            with self._lock:
                self.replies.append(reply)
            self._post_reply(ticket, reply, True)

    def _post_reply(self, ticket: Ticket, reply: AgentReply, redeliver: bool) -> None:
        assert ticket.packet_ts is not None
        call = self.agent.reply(ticket.packet_ts, reply.text, reply.ts, redeliver=redeliver)
        reply.accepted, reply.attempts = call.accepted, call.attempts


# --- what the stores hold ----------------------------------------------------------------


def handoff_ids(db: Path) -> dict[str, list[str]]:
    """Handoff ids per conversation, oldest first."""
    try:
        with closing(read_only(db)) as con:
            rows = con.execute("SELECT sender_id, id FROM handoffs ORDER BY id").fetchall()
    except Exception:  # noqa: BLE001 - locked or not there yet: nothing known yet
        return {}
    out: dict[str, list[str]] = {}
    for sender, hid in rows:
        out.setdefault(str(sender), []).append(str(hid))
    return out


def packets(rig: Rig) -> dict[str, list[str]]:
    """Top-level Slack messages per handoff id (from the packet's idempotency key)."""
    out: dict[str, list[str]] = {}
    for m in rig.slack.top_level(CHANNEL):
        key = str(((m.get("metadata") or {}).get("event_payload") or {}).get("key", ""))
        if key.endswith(":packet") and key.startswith("h"):
            out.setdefault(key[1:-7], []).append(str(m["ts"]))
        else:
            hid = handoff_id_of(m)
            if hid:
                out.setdefault(hid, []).append(str(m["ts"]))
    return out


def stored_texts(rig: Rig, conversations: set[str]) -> dict[str, dict[str, Counter[str]]]:
    """User and bot texts per conversation as Rasa stores them, through Rasa's HTTP API."""
    out: dict[str, dict[str, Counter[str]]] = {}
    with httpx.Client() as client:
        for sender in sorted(conversations):
            found = tracker(client, rig.rasa_url, rig.running.token, sender)
            counts = out.setdefault(sender, {"user": Counter(), "bot": Counter()})
            for event in found.get("events") or []:
                if event.get("event") in ("user", "bot"):
                    counts[event["event"]][str(event.get("text") or "")] += 1
    return out


# --- episodes ----------------------------------------------------------------------------


@dataclass
class Episode:
    name: str
    started: float
    fault_seconds: float = 0.0  # how long the fault lasted (down → ready, storm, lock)
    ready_s: float | None = None  # kill → the service answers its readiness probe
    first_answer_s: float | None = None  # fault start → first customer answered again
    packet_s: float | None = None  # fault start → this episode's packet in Slack
    cleared_s: float | None = None  # fault start → all of this episode's work delivered
    ticket: Ticket | None = None
    replies: list[AgentReply] = field(default_factory=list)
    lines: list[tuple[Ticket, str]] = field(default_factory=list)  # customers in a handoff
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fault": self.name,
            "fault_seconds": round(self.fault_seconds, 1),
            "service_ready_s": _r(self.ready_s),
            "first_answer_s": _r(self.first_answer_s),
            "packet_posted_s": _r(self.packet_s),
            "all_delivered_s": _r(self.cleared_s),
            "agent_replies_in_episode": len(self.replies),
            "customer_lines_in_episode": len(self.lines),
            "notes": self.notes,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class FaultCampaign:
    def __init__(self, rig: Rig, args: Any, run_id: str) -> None:
        self.rig = rig
        self.args = args
        self.run_id = run_id
        self.customers = SteadyCustomers(rig, args.fault_customers, 0.5, args.retry_window, run_id)
        self.desk = Desk(rig, args.retry_window, run_id)
        self.episodes: list[Episode] = []

    def plan(self) -> list[tuple[str, Callable[[Episode], None]]]:
        a = self.args
        return [
            ("action server killed (-9) and restarted", lambda e: self._kill(e, "actions")),
            ("Rasa killed (-9) and restarted", lambda e: self._kill(e, "rasa")),
            ("handoff service killed (-9) and restarted", lambda e: self._kill(e, "handoff")),
            (
                f"Slack 503 storm, {a.storm_seconds:g} s",
                lambda e: self._storm(e, Failure(503), half_processed=True),
            ),
            (
                f"Slack 429 storm with Retry-After: 2, {a.storm_seconds:g} s",
                lambda e: self._storm(
                    e,
                    Failure(429, {"Retry-After": "2"}, '{"ok": false, "error": "ratelimited"}'),
                ),
            ),
            (f"handoff database locked, {a.lock_seconds:g} s", self._lock),
        ]

    def run(self) -> tuple[list[Check], dict[str, Any]]:
        self.customers.start()
        # A first ticket before any fault, so Ana owns a chat to answer during the first one.
        warmup = self.desk.open_ticket("before the faults")
        warmup.done.wait(self.args.settle_seconds)
        for name, fault in tqdm(self.plan(), desc="fault episodes", unit="fault"):
            episode = Episode(name, time.monotonic())
            fault(episode)
            self._settle(episode)
            self.episodes.append(episode)
            time.sleep(2.0)
        self.customers.stop()
        self.desk.join(self.args.settle_seconds)
        drained = self._drain()
        return self._checks(drained), self._figures()

    # -- the faults (main thread: restarted children die with the thread that started them)
    def _during_fault(self, episode: Episode) -> None:
        episode.ticket = self.desk.open_ticket(episode.name)
        episode.replies = self.desk.reply_to_all(episode.name)
        episode.lines = self.desk.customers_write(episode.name)

    def _kill(self, episode: Episode, service: str) -> None:
        killed_at = self.rig.kill(service)
        episode.started = killed_at
        self._during_fault(episode)
        time.sleep(self.args.downtime)
        self.rig.relaunch(service)
        ready_at = self.rig.wait_ready(service, timeout=300)
        if ready_at is None:
            episode.notes.append(f"{service} did not become ready within 300 s")
            return
        episode.ready_s = ready_at - killed_at
        episode.fault_seconds = episode.ready_s

    def _storm(self, episode: Episode, failure: Failure, half_processed: bool = False) -> None:
        seconds = self.args.storm_seconds
        before = self.rig.slack.storm_failures
        self.rig.slack.storm(failure, seconds, half_processed)
        episode.started = time.monotonic()
        self._during_fault(episode)
        time.sleep(seconds)
        self.rig.slack.calm()
        episode.fault_seconds = time.monotonic() - episode.started
        episode.notes.append(f"{self.rig.slack.storm_failures - before} Slack calls failed")

    def _lock(self, episode: Episode) -> None:
        with exclusive_lock(self.rig.handoff_db) as locked_at:
            episode.started = locked_at
            self._during_fault(episode)
            time.sleep(self.args.lock_seconds)
        episode.fault_seconds = time.monotonic() - episode.started

    # -- after each fault -------------------------------------------------------------
    def _settle(self, episode: Episode) -> None:
        """Wait (bounded) until the episode's ticket and replies have gone through; record
        when the customers were answered again and when everything was delivered."""
        deadline = time.monotonic() + self.args.settle_seconds
        ticket = episode.ticket
        while time.monotonic() < deadline:
            if ticket and ticket.packet_seen_at and episode.packet_s is None:
                episode.packet_s = ticket.packet_seen_at - episode.started
            if self._episode_delivered(episode):
                episode.cleared_s = time.monotonic() - episode.started
                break
            time.sleep(0.5)
        answered = [
            m.answered_at
            for m in self.customers.snapshot()
            if m.first_sent >= episode.started and m.answered_at and m.kind == "question"
        ]
        if answered:
            episode.first_answer_s = min(answered) - episode.started
        if episode.cleared_s is None:
            episode.notes.append(f"not all delivered within {self.args.settle_seconds:g} s")

    def _episode_delivered(self, episode: Episode) -> bool:
        """The episode's packet, thread lines and agent replies have all reached their target
        (or never will: a ticket never queued or claimed is counted at the end)."""
        ticket = episode.ticket
        if ticket is None or not ticket.done.is_set():
            return False
        replies = [*episode.replies, *ticket.replies]
        if any(r.attempts == 0 for r in replies):
            return False  # still being posted
        lines = [*episode.lines, *((ticket, line) for line in ticket.thread_lines)]
        for t, line in lines:
            if t.packet_ts and not any(
                line in str(m.get("text", "")) for m in self.rig.slack.thread(CHANNEL, t.packet_ts)
            ):
                return False
        stored = stored_texts(self.rig, {r.conversation for r in replies if r.accepted})
        return all(
            stored.get(r.conversation, {"bot": Counter()})["bot"][r.text] > 0
            for r in replies
            if r.accepted
        )

    def _drain(self) -> bool:
        deadline = time.monotonic() + self.args.drain_seconds
        while time.monotonic() < deadline:
            if pending_outbox(self.rig.handoff_db) == 0:
                time.sleep(1.0)  # the event tail polls every 50 ms
                return True
            time.sleep(0.5)
        return False

    # -- the count ----------------------------------------------------------------------
    def _checks(self, drained: bool) -> list[Check]:
        messages = self.customers.snapshot() + [m for t in self.desk.tickets for m in t.messages]
        stored = stored_texts(self.rig, {m.conversation for m in messages})
        accepted_by_key: Counter[tuple[str, str]] = Counter()
        never_accepted, refused = [], []
        for m in messages:
            accepted_by_key[(m.conversation, m.text)] += m.accepted
            if m.refused:
                refused.append(f"{m.conversation}: {m.text!r} ({m.refused})")
            elif not m.accepted:
                never_accepted.append(
                    f"{m.conversation}: {m.text!r} ({m.attempts} tries, last: {m.last_error})"
                )
        lost, doubled = [], []
        for (conv, text), accepted in accepted_by_key.items():
            present = stored.get(conv, {"user": Counter()})["user"][text]
            if present < accepted:
                lost.append(f"{conv}: {text!r} accepted {accepted}x, stored {present}x")
            elif present > accepted:
                doubled.append(f"{conv}: {text!r} accepted {accepted}x, stored {present}x")
        note = "" if drained else "the outbox had not caught up when the run stopped waiting"
        checks = [
            Check("customer messages sent", len(messages), "", None),
            zero_check(
                "customer messages accepted by Rasa but missing from the tracker", lost, note
            ),
            zero_check(
                "customer messages never accepted within the retry window",
                never_accepted,
                f"the simulated widget resends for {self.args.retry_window:g} s on "
                "connection errors and 5xx",
            ),
            zero_check("customer messages stored twice (a resend after a lost response)", doubled),
            zero_check(
                "customer messages refused by the message guard",
                refused,
                "each simulated customer writes well below the rate limits, from its own address",
            ),
            *self._silence_checks(messages),
        ]
        checks += self._handoff_checks(stored, note)
        return checks

    def _silence_checks(self, messages: list[SentMessage]) -> list[Check]:
        """Messages Rasa took but answered with nothing: expected during a fault, a stuck
        conversation when sent after the service was back."""
        windows = [(e.started, e.started + e.fault_seconds + RECOVERY_GRACE) for e in self.episodes]
        silent = [m for m in messages if m.accepted and not m.replies and not m.silent_by_design]
        # In flight at any moment of a fault: its silence is the fault's doing.
        during = [
            m for m in silent if any(m.first_sent <= b and m.done_at >= a for a, b in windows)
        ]
        after = [m for m in silent if m not in during]
        by_conversation: dict[str, list[SentMessage]] = {}
        for m in after:
            by_conversation.setdefault(m.conversation, []).append(m)
        tripped = circuit_breaker_senders(self.rig.state_dir / "logs" / "rasa.log")
        stuck = [
            f"{conv}: {len(ms)} messages unanswered from {ms[0].text!r} on"
            + (" (Rasa logged 'Circuit breaker tripped' for it)" if conv in tripped else "")
            for conv, ms in by_conversation.items()
        ]
        return [
            Check(
                "customer messages answered with nothing during a fault",
                len(during),
                "",
                None,
                [f"{m.conversation}: {m.text!r}" for m in during[:5]],
            ),
            zero_check(
                "conversations answering nothing after the fault was over "
                f"(+{RECOVERY_GRACE:g} s): stuck",
                stuck,
                f"{len(after)} messages in all" if after else "",
            ),
        ]

    def _handoff_checks(self, stored: dict[str, Any], note: str) -> list[Check]:
        ids = handoff_ids(self.rig.handoff_db)
        posted = packets(self.rig)
        tickets = self.desk.tickets
        not_queued = [f"{t.conversation} ({t.episode})" for t in tickets if not t.queued]
        no_packet, many_packets, relay_missing, relay_doubled = [], [], [], []
        for t in [t for t in tickets if t.queued]:
            hids = ids.get(t.conversation, [])
            counts = [len(posted.get(h, [])) for h in hids]
            if len(hids) > 1:
                many_packets.append(f"{t.conversation}: {len(hids)} handoffs opened")
            if not hids or sum(counts) == 0:
                no_packet.append(f"{t.conversation} ({t.episode})")
            elif any(c > 1 for c in counts):
                many_packets.append(f"{t.conversation} ({t.episode}): packets {counts}")
            thread = [
                str(m.get("text", ""))
                for h in hids
                for ts in posted.get(h, [])[:1]
                for m in self.rig.slack.thread(CHANNEL, ts)
            ]
            for line in t.thread_lines:
                n = sum(line in text for text in thread)
                if n == 0:
                    relay_missing.append(f"{t.conversation}: {line!r}")
                elif n > 1:
                    relay_doubled.append(f"{t.conversation}: {line!r} posted {n}x")
        replies = self.desk.replies
        refused = [f"{r.text!r} ({r.attempts} tries)" for r in replies if not r.accepted]
        undelivered, duplicated = [], []
        for r in [r for r in replies if r.accepted]:
            n = stored.get(r.conversation, {"bot": Counter()})["bot"][r.text]
            if n == 0:
                undelivered.append(r.text)
            elif n > 1:
                duplicated.append(f"{r.text!r} delivered {n}x")
        return [
            Check("handoffs asked for", len(tickets), "", None),
            zero_check("handoffs never queued (customer told to try later)", not_queued),
            zero_check("queued handoffs with no packet in Slack", no_packet, note),
            zero_check("handoffs with more than one packet in Slack", many_packets),
            zero_check(
                "customer messages written during a handoff missing from the Slack thread",
                relay_missing,
                note,
            ),
            zero_check("customer messages posted to the Slack thread twice", relay_doubled),
            Check("agent replies sent", len(replies), "", None, note="half sent twice by Slack"),
            zero_check("agent replies the handoff service never accepted", refused),
            zero_check("accepted agent replies not delivered to the customer", undelivered, note),
            zero_check("agent replies delivered more than once", duplicated),
        ]

    def _figures(self) -> dict[str, Any]:
        return {
            "episodes": [e.as_dict() for e in self.episodes],
            "steady_customers": self.args.fault_customers,
            "steady_interval_s": STEADY_INTERVAL,
            "downtime_before_restart_s": self.args.downtime,
            "retry_window_s": self.args.retry_window,
            # A service that cleans up a duplicate post deletes it: seen here, not in the count.
            "slack_messages_deleted": len(self.rig.slack.calls("chat.delete")),
        }


def run_faults(rig: Rig, args: Any, run_id: str) -> tuple[list[Check], dict[str, Any]]:
    return FaultCampaign(rig, args, run_id).run()
