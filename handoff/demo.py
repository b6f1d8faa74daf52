"""`python -m handoff demo`: fill the handoff database with a realistic month of conversations.

Nothing is written to the tables by hand. Each invented conversation is played through the
code the running bot uses: Rasa-shaped events go through the event broker's handler (which keeps
the outcome ledger and logs every knowledge answer), questions are answered by the real
knowledge answerer over the configured articles, the handoff packet and its trigger come
from the action server's own functions, and agents claim, reply and resolve through the
handoff service. Only the clock is simulated. Every demo conversation's id starts with
`demo-`, so the report can say it shows demo data and `--clear` can remove it again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml
from parley_shared.phrases import phrase
from parley_shared.triggers import TriggerConfig, explain, load_config, on_user_message
from sqlalchemy import delete, func, select

from handoff.db import Database
from handoff.event_broker import EventHandler
from handoff.models import (
    AnswerFeedback,
    Conversation,
    Handoff,
    KnowledgeAnswer,
    Message,
    OutboxItem,
    utcnow,
)
from handoff.notices import HANDOFF_META, QUESTION_META, QUEUED, QUEUED_NOTICE, notice_marker
from handoff.packet import collect_packet
from handoff.service import HandoffError, HandoffService
from knowledge.text import clean_question

if TYPE_CHECKING:
    from knowledge.settings import KnowledgeSettings

DEMO_PREFIX = "demo-"
IDLE = timedelta(minutes=30)

# An answerer: question -> (answer text, custom payload, kb_sources slot value).
Answerer = Callable[[str], tuple[str, dict[str, Any], list[dict[str, Any]]]]


def load_script() -> dict[str, Any]:
    text = resources.files("handoff").joinpath("demo_conversations.yml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def knowledge_answerer(settings: KnowledgeSettings, progress: bool = True) -> Answerer:
    """The real answerer over the configured knowledge folder (KNOWLEDGE_DIR), with the same
    payload and slots the action server sends; repeated questions are answered once."""
    from actions.knowledge_answer import answer_payload, slot_sources
    from knowledge.service import KnowledgeService

    if not settings.knowledge_dir.is_dir():
        raise HandoffError(
            f"The knowledge folder {settings.knowledge_dir} does not exist; set KNOWLEDGE_DIR."
        )
    service = KnowledgeService(settings)
    service.sync(progress=progress)
    cache: dict[str, tuple[str, dict[str, Any], list[dict[str, Any]]]] = {}

    def answer(question: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        if question not in cache:
            result = service.answer(question)
            cache[question] = (result.text, answer_payload(result), slot_sources(result))
        return cache[question]

    return answer


@dataclass
class SimClock:
    """Naive UTC time that the demo moves forward; the service reads it as "now"."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=max(0.5, seconds))

    def stamp(self) -> float:
        return self.now.replace(tzinfo=UTC).timestamp()


@dataclass
class DemoSummary:
    conversations: int = 0
    questions: int = 0
    handoffs: int = 0
    feedback: int = 0
    csat: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.by_kind.items()))
        return (
            f"{self.conversations} demo conversations ({kinds}); {self.questions} questions to "
            f"the answerer, {self.handoffs} handoffs, {self.feedback} answer ratings, "
            f"{self.csat} satisfaction ratings"
        )


class DemoConversation:
    """One customer's chat: every event goes to the event tail as Rasa would write it."""

    def __init__(self, filler: DemoFiller, sender_id: str, name: str) -> None:
        self.f = filler
        self.sender_id = sender_id
        self.name = name
        self.events: list[dict[str, Any]] = []
        self.slots: dict[str, Any] = {}
        self.last_answer: dict[str, Any] = {}
        self.last_question = ""
        self.paused = False

    def emit(self, event: dict[str, Any]) -> None:
        event = {"sender_id": self.sender_id, "timestamp": self.f.clock.stamp(), **event}
        self.events.append(event)
        if event["event"] == "slot":
            self.slots[event["name"]] = event["value"]
        self.f.tail(event)

    def start(self) -> None:
        meta = {"name": self.name, "page_url": "https://shop.tidewell.example/"}
        self.emit({"event": "action", "name": "action_session_start"})
        self.emit({"event": "session_started", "metadata": meta})
        self.emit({"event": "slot", "name": "session_started_metadata", "value": meta})
        self.emit({"event": "bot", "text": phrase("disclosure"), "data": {}})
        self.emit({"event": "action", "name": "action_listen"})

    def say(self, text: str, intent: str, confidence: float = 0.9) -> None:
        self.f.clock.wait(self.f.rng.uniform(8, 60))
        parse = {"intent": {"name": intent, "confidence": confidence}, "text": text}
        self.emit({"event": "user", "text": text, "parse_data": parse, "metadata": {}})

    def bot(self, text: str, custom: dict[str, Any] | None = None, **meta: Any) -> None:
        self.f.clock.wait(self.f.rng.uniform(0.3, 1.5))
        event: dict[str, Any] = {"event": "bot", "text": text, "data": {}}
        if custom is not None:
            event["data"] = {"custom": custom}
        if meta:
            event["metadata"] = meta
        self.emit(event)

    def routine(self, intent: str, reply: str) -> None:
        self.say(self.f.pick(intent + "s" if intent != "greet" else "greetings"), intent)
        self.emit({"event": "action", "name": f"utter_{intent}"})
        self.bot(reply)

    def ask(self, question: str) -> str:
        """A question outside the routine intents, answered by the real answerer; "handoff"
        when the message itself makes the bot hand off (a repeated question, frustration),
        as the Rasa-side trigger policy decides before any answer."""
        self.say(question, "out_of_scope", self.f.rng.uniform(0.5, 0.95))
        if on_user_message(self.events, self.f.triggers) is not None:
            return "handoff"
        text, custom, sources = self.f.answer(question)
        self.emit({"event": "action", "name": "action_answer_from_knowledge"})
        self.last_question = clean_question(question)
        self.bot(text, custom, **{QUESTION_META: self.last_question})
        self.emit({"event": "slot", "name": "kb_answer_type", "value": custom["answer_type"]})
        self.emit({"event": "slot", "name": "kb_sources", "value": sources})
        self.last_answer = custom
        self.f.summary.questions += 1
        return str(custom["answer_type"])

    def rate_answer(self, verdict: str) -> None:
        custom = self.last_answer
        sources = custom.get("sources") or [{}]
        self.f.service.record_feedback(
            self.sender_id,
            verdict,
            question=self.last_question,
            article_path=str(sources[0].get("path") or ""),
            answer_type=str(custom.get("answer_type") or "kb"),
            confidence=custom.get("confidence"),
        )
        self.f.summary.feedback += 1

    def answer_suggestion(self, helped: bool) -> None:
        """The customer presses Yes or "No, talk to a person" under a suggestion, as
        action_answer_feedback handles it; a "no" then hands off (see question_flow)."""
        if helped:
            self.say("Yes", "affirm", 1.0)
        else:
            self.say("No, talk to a person", "deny", 1.0)
        self.emit({"event": "action", "name": "action_answer_feedback"})
        self.rate_answer("yes" if helped else "no")
        if helped:
            self.bot("Glad I could help. Is there anything else you'd like to know?")
        self.emit(
            {"event": "slot", "name": "kb_answer_type", "value": None if helped else "declined"}
        )

    def hand_off(self) -> int:
        """What action_human_handoff does: packet, trigger, queue notice, pause."""
        self.emit({"event": "action", "name": "action_human_handoff"})
        trigger = explain(self.events, self.f.triggers)
        packet = collect_packet(
            self.events, self.slots, trigger.kind, trigger.confidence, trigger.detail
        )
        users = [e["timestamp"] for e in self.events if e["event"] == "user"]
        bots = [e["timestamp"] for e in self.events if e["event"] == "bot" and e.get("text")]
        result = self.f.service.open_handoff(
            self.sender_id,
            packet,
            first_bot_response_at=_at(bots[0]) if bots else None,
            started_at=_at(users[0]) if users else None,
        )
        self.bot(QUEUED_NOTICE, **{HANDOFF_META: notice_marker(QUEUED)})
        self.emit({"event": "pause"})
        self.paused = True
        self.f.summary.handoffs += 1
        return result.handoff_id

    def csat(self, outcome_mood: float) -> None:
        """A satisfaction rating from some customers; `outcome_mood` 0..1 skews the score."""
        rng = self.f.rng
        if rng.random() > 0.38:
            return
        self.f.clock.wait(rng.uniform(5, 90))
        score = max(1, min(5, round(rng.gauss(1.5 + 3.5 * outcome_mood, 0.8))))
        comment = rng.choice(self.f.script["csat_comments"][score]) if rng.random() < 0.4 else ""
        self.f.service.record_csat(self.sender_id, score, comment)
        self.f.summary.csat += 1


class DemoFiller:
    def __init__(
        self,
        db: Database,
        answer: Answerer,
        *,
        seed: int = 7,
        script: dict[str, Any] | None = None,
        triggers: TriggerConfig | None = None,
    ) -> None:
        self.db = db
        self.answer = answer
        self.rng = random.Random(seed)
        self.script = script or load_script()
        self.triggers = triggers or load_config()
        self.clock = SimClock(utcnow())
        self.service = HandoffService(db, clock=self.clock)
        # The same handler the running service applies to Rasa's event stream; "sqlite://"
        # is an empty in-memory event log, since the events are handed to it directly.
        self.tail = EventHandler(self.service)
        self.summary = DemoSummary()

    def pick(self, key: str) -> str:
        return str(self.rng.choice(self.script[key]))

    # -- the month --------------------------------------------------------------------
    def starts(self, days: int, per_day: float, end: datetime) -> Iterator[datetime]:
        """Conversation start times: more on weekdays and in the afternoon, growing a little
        over the month (the shop is getting busier)."""
        first = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        for d in range(days):
            day = first + timedelta(days=d)
            weekend = day.weekday() >= 5
            mean = per_day * (0.6 if weekend else 1.1) * (0.85 + 0.3 * d / max(days - 1, 1))
            for _ in range(max(0, round(self.rng.gauss(mean, mean * 0.15)))):
                hour = min(23.9, max(0.0, self.rng.gauss(14.5, 4.0)))
                at = day + timedelta(hours=hour)
                if at < end:
                    yield at

    def fill(
        self, days: int = 30, per_day: float = 20, progress: Callable[[int], None] | None = None
    ) -> DemoSummary:
        end = self.clock.now
        times = sorted(self.starts(days, per_day, end))
        for i, at in enumerate(times):
            self.clock.now = at
            self.service.sweep_idle(IDLE)
            self.play(f"{DEMO_PREFIX}{at:%Y%m%d-%H%M%S}-{i:04d}")
            if progress:
                progress(1)
        self.clock.now = max(end, self.clock.now) + IDLE + timedelta(minutes=1)
        self.service.sweep_idle(IDLE)
        self._drop_deliveries()
        return self.summary

    def _drop_deliveries(self) -> None:
        """Nothing of the demo may reach Slack or a customer: its outbox rows go."""
        with self.db.session() as session:
            ids = select(Handoff.id).where(Handoff.sender_id.like(f"{DEMO_PREFIX}%"))
            session.execute(delete(OutboxItem).where(OutboxItem.handoff_id.in_(ids)))

    # -- one conversation -------------------------------------------------------------
    def play(self, sender_id: str) -> None:
        rng = self.rng
        chat = DemoConversation(self, sender_id, self.pick("customers"))
        chat.start()
        self.summary.conversations += 1
        roll = rng.random()
        if roll < 0.12:
            kind = "routine"
            chat.routine("greet", "Hello! How can I help you today?")
            chat.routine("thank", "You're welcome!")
            chat.csat(0.9)
        elif roll < 0.22:
            kind = "asked for a person"
            if rng.random() < 0.5:
                chat.routine("greet", "Hello! How can I help you today?")
            chat.say(self.pick("handoff_requests"), "human_handoff", 0.97)
            self.agent_work(chat, chat.hand_off(), topic=None)
        else:
            kind = "question"
            self.question_flow(chat)
        self.summary.by_kind[kind] = self.summary.by_kind.get(kind, 0) + 1

    def question(self) -> tuple[str, dict[str, Any] | None]:
        """A question: mostly ones the articles answer, sometimes a gap topic (earlier topics
        come up more often, so the knowledge-gap ranking has a clear top)."""
        if self.rng.random() < 0.2:
            gaps = self.script["gaps"]
            weights = [len(gaps) - i for i in range(len(gaps))]
            topic = self.rng.choices(gaps, weights=weights)[0]
            return str(self.rng.choice(topic["questions"])), topic
        return self.pick("questions"), None

    def question_flow(self, chat: DemoConversation) -> None:
        rng = self.rng
        if rng.random() < 0.4:
            chat.routine("greet", "Hello! How can I help you today?")
        text, topic = self.question()
        answer_type = chat.ask(text)
        if answer_type == "suggest":
            # Suggestions are right about as often as not on the sample (bench results).
            helped = rng.random() < 0.55
            chat.answer_suggestion(helped)
            if not helped:
                self.agent_work(chat, chat.hand_off(), topic=topic)
                return
            chat.csat(0.75)
            return
        if answer_type == "kb":
            if rng.random() < 0.3:
                chat.rate_answer("yes" if rng.random() < 0.8 else "no")
            roll = rng.random()
            if roll < 0.25:  # a second question
                text, topic = self.question()
                answer_type = chat.ask(text)
                if answer_type == "handoff":
                    self.agent_work(chat, chat.hand_off(), topic=topic)
                    return
            elif roll < 0.3:
                chat.say(self.pick("frustrated"), "out_of_scope", 0.4)
                self.agent_work(chat, chat.hand_off(), topic=None)
                return
            if answer_type == "kb":
                if rng.random() < 0.6:
                    chat.routine("thank", "You're welcome!")
                chat.csat(0.85)
                return
        # The bot did not know.
        roll = rng.random()
        if roll < 0.45:
            chat.say("yes please", "affirm", 0.95)
            self.agent_work(chat, chat.hand_off(), topic=topic)
        elif roll < 0.7:
            # Customers mostly rephrase (a repeat counts as a loop), or try something else.
            again_topic: dict[str, Any] | None
            if topic is not None and rng.random() < 0.7:
                again, again_topic = str(rng.choice(topic["questions"])), topic
            elif rng.random() < 0.5:
                again, again_topic = text + "?", topic
            else:
                again, again_topic = self.question()
            if chat.ask(again) in ("abstain", "handoff"):
                # Two answers in a row without help: the bot hands off by itself.
                self.agent_work(chat, chat.hand_off(), topic=again_topic or topic)
            elif rng.random() < 0.5:
                chat.routine("thank", "You're welcome!")
        # Otherwise the customer leaves: the sweep records the conversation as unresolved.

    def agent_work(
        self, chat: DemoConversation, handoff_id: int, topic: dict[str, Any] | None
    ) -> None:
        rng, service, clock = self.rng, self.service, self.clock
        hour = clock.now.hour
        staffed = 8 <= hour < 20 and clock.now.weekday() < 5
        if rng.random() < (0.07 if staffed else 0.3):
            return  # nobody claims it in time: abandoned at the next sweep
        # Minutes to claim: quick in office hours, slow outside them.
        clock.wait(60 * rng.lognormvariate(0.9 if staffed else 3.2, 0.7))
        agents = self.script["agents"]
        agent = rng.choices(agents, weights=[4, 3, 2, 1][: len(agents)])[0]
        service.claim(handoff_id, agent["id"], agent["name"])
        clock.wait(rng.uniform(15, 120))
        first = agent["name"].split()[0]
        opener = rng.choice(self.script["agent_openers"]).format(name=chat.name, agent=first)
        service.agent_reply(handoff_id, agent["id"], opener, f"demo:{chat.sender_id}:opener")
        if rng.random() < 0.6:
            chat.say("thanks, here are the details", "out_of_scope", 0.3)
        clock.wait(rng.uniform(30, 400))
        reply = rng.choice(topic["replies"]) if topic else self.pick("agent_followups")
        service.agent_reply(handoff_id, agent["id"], reply, f"demo:{chat.sender_id}:answer")
        clock.wait(rng.uniform(30, 300))
        roll = rng.random()
        resolution = "resolved" if roll < 0.85 else "not_resolved" if roll < 0.95 else "spam"
        service.resolve(
            handoff_id, agent["id"], resolution, hand_back=rng.random() < 0.6, agent_name=first
        )
        chat.csat(0.8 if resolution == "resolved" else 0.3)


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def count_conversations(db: Database) -> tuple[int, int]:
    """(demo conversations, other conversations) in the database."""
    with db.session() as session:
        demo = Conversation.sender_id.like(f"{DEMO_PREFIX}%")
        ours = session.scalar(select(func.count()).select_from(Conversation).where(demo)) or 0
        total = session.scalar(select(func.count()).select_from(Conversation)) or 0
    return int(ours), int(total - ours)


def clear_demo(db: Database) -> int:
    """Remove every demo conversation and what hangs off it; returns how many went."""
    demo = f"{DEMO_PREFIX}%"
    with db.session() as session:
        handoffs = select(Handoff.id).where(Handoff.sender_id.like(demo))
        session.execute(delete(Message).where(Message.handoff_id.in_(handoffs)))
        session.execute(delete(OutboxItem).where(OutboxItem.handoff_id.in_(handoffs)))
        session.execute(delete(Handoff).where(Handoff.sender_id.like(demo)))
        session.execute(delete(KnowledgeAnswer).where(KnowledgeAnswer.sender_id.like(demo)))
        session.execute(delete(AnswerFeedback).where(AnswerFeedback.sender_id.like(demo)))
        result = session.execute(delete(Conversation).where(Conversation.sender_id.like(demo)))
        return int(getattr(result, "rowcount", 0) or 0)
