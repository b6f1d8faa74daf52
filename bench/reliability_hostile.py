"""Part 1 of the reliability campaign: hostile customer messages through the real stack.

Every input goes over REST in a conversation of its own; a share also over socket.io, as the
widget sends it. Some are followed by a request for a person (they reach Slack in the
packet's transcript), some are sent after one (they reach the Slack thread)."""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import httpx
from tqdm import tqdm

from bench.hostile_inputs import HostileInput, family_counts
from bench.reliability_checks import (
    CanaryIndex,
    Check,
    article_urls,
    leak_checks,
    llm_places,
    log_places,
    markup_findings,
    scan,
    slack_control_findings,
    slack_places,
    snippet,
    sqlite_places,
    zero_check,
)
from bench.reliability_rig import (
    AGENT_USER,
    RestReply,
    Rig,
    customer_address,
    handoff_threads,
    paused_before_last_message,
    pending_outbox,
    refusal,
    rest_send,
    socketio_send,
    tracker,
)
from handoff.notices import QUEUED_NOTICE
from tests.handoff.slack_helpers import CHANNEL

ASK_FOR_A_PERSON = "I want to talk to a person"
# Share of each family that also reaches Slack (half in the packet, half in the thread).
SLACK_SHARE = {"slack_markup": 0.7, "card_number": 0.5, "iban": 0.5, "mixed": 0.6}
DEFAULT_SLACK_SHARE = 0.2


@dataclass(frozen=True)
class HostileCase:
    input: HostileInput
    channel: str  # "rest" | "socketio"
    mode: str  # "bot": alone | "packet": then a handoff | "thread": after a handoff
    conversation: str
    address: str  # the simulated customer's own (X-Forwarded-For)


@dataclass
class CaseOutcome:
    case: HostileCase
    error: str = ""  # transport error, 5xx or timeout on any of the case's messages
    replies: list[dict[str, Any]] = field(default_factory=list)  # to the hostile message
    empty_reply: bool = False  # nothing came back although the bot should have answered
    silent_by_design: bool = False  # a person owned the chat: the bot must stay quiet
    refused: str = ""  # the message guard's polite refusal ("too long", "too fast")
    handoff_queued: bool = False
    seconds: float = 0.0


def plan(inputs: list[HostileInput], socketio_share: float, run_id: str) -> list[HostileCase]:
    """Channel and mode of every input, decided by its id (the same on every run)."""
    cases: list[HostileCase] = []
    for h in inputs:
        rng = random.Random(h.id)
        if h.family == "metadata_fields":
            mode = "packet"  # widget metadata reaches Slack only in the packet
        elif rng.random() < SLACK_SHARE.get(h.family, DEFAULT_SLACK_SHARE):
            mode = "packet" if rng.random() < 0.5 else "thread"
        else:
            mode = "bot"
        cases.append(
            HostileCase(h, "rest", mode, f"{run_id}-{h.id}", customer_address(1, len(cases)))
        )
        if rng.random() < socketio_share:
            conversation, address = f"{run_id}-{h.id}-sio", customer_address(1, len(cases))
            cases.append(HostileCase(h, "socketio", "bot", conversation, address))
    return cases


def _timeout(h: HostileInput) -> float:
    return 240.0 if h.size > 100_000 else 90.0


class CaseRunner:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self._local = threading.local()
        self._clients: list[httpx.Client] = []

    def client(self) -> httpx.Client:
        """One HTTP client per worker thread."""
        if not hasattr(self._local, "client"):
            self._local.client = httpx.Client()
            self._clients.append(self._local.client)
        return self._local.client  # type: ignore[no-any-return]

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def run(self, case: HostileCase) -> CaseOutcome:
        try:
            if case.channel == "socketio":
                return self._socketio(case)
            return self._rest(case)
        except Exception as exc:  # noqa: BLE001 - a harness error is a finding, not a crash
            return CaseOutcome(case, error=f"harness: {type(exc).__name__}: {exc}"[:300])

    def _send(self, case: HostileCase, text: str, metadata: dict[str, str] | None) -> RestReply:
        return rest_send(
            self.client(),
            self.rig.rasa_url,
            case.conversation,
            text,
            metadata,
            _timeout(case.input),
            case.address,
        )

    def _rest(self, case: HostileCase) -> CaseOutcome:
        h = case.input
        meta = h.metadata or None
        outcome = CaseOutcome(case)
        if case.mode == "thread":
            ask = self._send(case, ASK_FOR_A_PERSON, meta)
            outcome.handoff_queued = _queued(ask.replies)
            if ask.error:
                outcome.error = f"asking for a person: {ask.error}"
                return outcome
        reply = self._send(case, h.text, meta)
        outcome.replies, outcome.seconds = reply.replies, reply.seconds
        if reply.error:
            outcome.error = reply.error
            return outcome
        self._judge_silence(outcome)
        if case.mode == "packet":
            ask = self._send(case, ASK_FOR_A_PERSON, meta)
            outcome.handoff_queued = _queued(reply.replies) or _queued(ask.replies)
            if ask.error:
                outcome.error = f"asking for a person: {ask.error}"
        return outcome

    def _socketio(self, case: HostileCase) -> CaseOutcome:
        h = case.input
        exchange = socketio_send(
            self.rig.rasa_url,
            case.conversation,
            h.text,
            h.metadata or None,
            _timeout(h),
            address=case.address,
        )
        outcome = CaseOutcome(case, replies=exchange.events, seconds=exchange.seconds)
        if exchange.error:
            outcome.error = exchange.error
            return outcome
        self._judge_silence(outcome)
        return outcome

    def _judge_silence(self, outcome: CaseOutcome) -> None:
        outcome.refused = refusal(outcome.replies)
        if outcome.replies:
            return
        t = tracker(
            self.client(), self.rig.rasa_url, self.rig.running.token, outcome.case.conversation
        )
        if paused_before_last_message(t):
            outcome.silent_by_design = True
        else:
            outcome.empty_reply = True


def _queued(replies: list[dict[str, Any]]) -> bool:
    return any(QUEUED_NOTICE in str(r.get("text") or "") for r in replies)


def wait_for_outbox(rig: Rig, timeout: float) -> bool:
    """Until the handoff service has delivered everything queued (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending_outbox(rig.handoff_db) == 0:
            return True
        time.sleep(0.5)
    return False


@dataclass
class HostileResult:
    checks: list[Check]
    figures: dict[str, Any]


def run_hostile(rig: Rig, inputs: list[HostileInput], args: Any, run_id: str) -> HostileResult:
    cases = plan(inputs, args.socketio_share, run_id)
    runner = CaseRunner(rig)
    outcomes: list[CaseOutcome] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.hostile_workers) as pool:
        futures = [pool.submit(runner.run, c) for c in cases]
        with tqdm(total=len(futures), desc="hostile inputs", unit="msg") as bar:
            for future in as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                bar.update(1)
                if outcome.error or outcome.empty_reply:
                    bar.set_postfix(problems=sum(1 for o in outcomes if o.error or o.empty_reply))
    sending_seconds = time.monotonic() - started
    runner.close()
    drained = wait_for_outbox(rig, args.drain_seconds)
    time.sleep(1.0)  # the event tail polls every 50 ms: let the last relays land
    return HostileResult(
        _checks(rig, inputs, outcomes, drained), _figures(inputs, outcomes, sending_seconds)
    )


def _checks(
    rig: Rig, inputs: list[HostileInput], outcomes: list[CaseOutcome], drained: bool
) -> list[Check]:
    checks = [
        zero_check(
            "messages not answered (exception, 5xx, timeout, dropped connection)",
            [f"{o.case.input.id} via {o.case.channel}: {o.error}" for o in outcomes if o.error],
        ),
        zero_check(
            "stack processes that died",
            [f"{name} exited" for name in [rig.crashed()] if name],
        ),
        zero_check(
            "empty replies where the bot should answer",
            [
                f"{o.case.input.id} via {o.case.channel}: {snippet(o.case.input.text, 0, 60, 0)}"
                for o in outcomes
                if o.empty_reply
            ],
            note="silence while a person owns the chat is right and not counted",
        ),
    ]
    markup = []
    for o in outcomes:
        markup += markup_findings(o.replies, f"{o.case.input.id} via {o.case.channel}")
    in_payloads = sum(1 for m in markup if ".custom." in m)
    checks.append(
        zero_check(
            "replies with raw markup reaching the widget (REST replies, socket.io events)",
            markup,
            note=f"every string of every reply is checked: {len(markup) - in_payloads} in what "
            f"the bot says, {in_payloads} in custom payloads (`custom.*`)",
        )
    )
    urls = article_urls(rig.running.settings.knowledge_dir)
    checks.append(
        zero_check(
            "unescaped Slack mentions/links from customers in Slack requests",
            slack_control_findings(rig.slack.requests, {AGENT_USER}, urls),
            note="the service's own mentions of agents and links to articles are allowed",
        )
    )
    checks += _handoff_checks(rig, outcomes, drained)
    index = CanaryIndex(c for h in inputs for c in h.canaries)
    where_planted = {c.value: h.id for h in inputs for c in h.canaries}
    scans = [
        scan("Slack requests", slack_places(rig.slack.requests), index),
        scan("LLM requests", llm_places(rig.llm.bodies()), index),
        scan("logs", log_places(rig.state_dir), index),
        scan("Rasa's tracker store", sqlite_places(rig.tracker_db), index),
        scan("the handoff database (queue, outbox, ledger)", sqlite_places(rig.handoff_db), index),
    ]
    checks += leak_checks(scans, index, where_planted)
    return checks


def _handoff_checks(rig: Rig, outcomes: list[CaseOutcome], drained: bool) -> list[Check]:
    threads = handoff_threads(rig.handoff_db)
    asked = [o for o in outcomes if o.case.mode in ("packet", "thread") and not o.error]
    queued = [o for o in asked if o.handoff_queued]
    not_posted = [o for o in queued if o.case.conversation not in threads]
    relays_missing, relays_doubled = [], []
    for o in queued:
        if o.case.mode != "thread" or o.refused:
            continue  # a message the guard refused is not stored, so not relayed either
        relayed = [
            m
            for ts in threads.get(o.case.conversation, [])
            for m in rig.slack.thread(CHANNEL, ts)
            if str(m.get("text", "")).startswith("*Customer:*")
        ]
        if not relayed:
            relays_missing.append(f"{o.case.input.id} ({o.case.conversation})")
        elif len(relayed) > 1:
            relays_doubled.append(f"{o.case.input.id}: {len(relayed)} thread posts")
    note = "" if drained else "the outbox had not caught up when the run stopped waiting"
    return [
        Check(
            "conversations that asked for a person around a hostile message and were queued",
            len(queued),
            f"= {len(asked)} asked",
            None,
            [f"{o.case.input.id}: not queued" for o in asked if not o.handoff_queued][:5],
            "a handoff may also start by itself (a sensitive topic); then the ask is silent",
        ),
        zero_check(
            "queued handoffs with no packet in Slack", [o.case.input.id for o in not_posted], note
        ),
        zero_check(
            "customer messages written during a handoff missing from the Slack thread",
            relays_missing,
            note,
        ),
        zero_check("customer messages posted to the Slack thread twice", relays_doubled),
    ]


def _figures(
    inputs: list[HostileInput], outcomes: list[CaseOutcome], seconds: float
) -> dict[str, Any]:
    by_family: dict[str, dict[str, Any]] = {}
    for family, count in family_counts(inputs).items():
        mine = [o for o in outcomes if o.case.input.family == family]
        times = [o.seconds for o in mine if not o.error and o.seconds]
        by_family[family] = {
            "inputs": count,
            "rest": sum(o.case.channel == "rest" for o in mine),
            "socketio": sum(o.case.channel == "socketio" for o in mine),
            "to_slack": sum(o.case.mode != "bot" for o in mine),
            "errors": sum(bool(o.error) for o in mine),
            "empty": sum(o.empty_reply for o in mine),
            "refused": sum(bool(o.refused) for o in mine),
            "median_s": round(statistics.median(times), 2) if times else None,
            "max_s": round(max(times), 2) if times else None,
            "max_chars": max(h.size for h in inputs if h.family == family),
        }
    canaries = [c for h in inputs for c in h.canaries]
    return {
        "inputs": len(inputs),
        "messages_sent": len(outcomes),
        "over_socketio": sum(o.case.channel == "socketio" for o in outcomes),
        "modes": dict(Counter(o.case.mode for o in outcomes)),
        "silent_by_design": sum(o.silent_by_design for o in outcomes),
        "planted_cards": sum(c.kind == "card" for c in canaries),
        "planted_ibans": sum(c.kind == "iban" for c in canaries),
        "planted_recognised_by_redact": sum(c.redact_recognises for c in canaries),
        "sending_seconds": round(seconds, 1),
        "by_family": by_family,
    }
