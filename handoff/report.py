"""The support lead's report: every figure about the bot and the people behind it, computed
from the handoff database for one period (`python -m handoff report`, GET /report).

Conversations belong to the period in which they started; knowledge answers and answer
feedback to the period in which they happened. Each figure's definition is in DEFINITIONS,
which the JSON carries and the page prints under the figure, so both say the same thing."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from parley_shared.redact import redact
from sqlalchemy import func, select

from handoff.db import Database
from handoff.models import (
    ABANDONED,
    ABSTAINED,
    ANSWERED,
    RESOLVED_BY_BOT,
    RESOLVED_BY_HUMAN,
    SUGGESTED,
    UNRESOLVED,
    AnswerFeedback,
    Conversation,
    Handoff,
    KnowledgeAnswer,
    utcnow,
)

# Sender ids the demo filler (`python -m handoff demo`) gives its made-up conversations.
DEMO_PREFIX = "demo-"
OPEN = "open"  # no final outcome yet
OUTCOMES = (RESOLVED_BY_BOT, RESOLVED_BY_HUMAN, UNRESOLVED, ABANDONED)
OUTCOMES_AND_OPEN = (*OUTCOMES, OPEN)
DEFAULT_SINCE = "30d"
TOP_QUESTIONS = 20
# How the period's options are named where the error will be read: command line or URL.
CLI_NAMES = {"since": "--since", "from": "--from", "to": "--to"}
URL_NAMES = {"since": "since=", "from": "from=", "to": "to="}
SINCE_HELP = "{since} takes e.g. 7d, 12h or 4w (hours, days or weeks)"
DATE_HELP = "dates are YYYY-MM-DD, e.g. 2026-11-30"
SINCE_UNITS = {
    "h": ("hour", timedelta(hours=1)),
    "d": ("day", timedelta(days=1)),
    "w": ("week", timedelta(weeks=1)),
}

DEFINITIONS: dict[str, str] = {
    "period": (
        "A conversation belongs to the period in which its first message came (started_at, "
        "UTC), from the start up to but not including the end. Knowledge answers and answer "
        "feedback belong to the period in which they happened."
    ),
    "conversations": (
        "Conversations (one per Rasa sender id) that started in the period. Finished ones "
        "have a final outcome; open ones are still live and have none yet."
    ),
    "outcomes": (
        "Final outcome of the finished conversations, as a share of them. Resolved by bot: "
        "no handoff, and the bot's last answer was not an abstention when the conversation "
        'went idle. Resolved by human: an agent resolved it as "resolved". Unresolved: an '
        'agent chose "not resolved", "spam" or "duplicate", or the bot\'s last answer was an '
        "abstention when it went idle without a handoff. Abandoned: handed off, but nobody "
        "finished it before HANDOFF_IDLE_MINUTES without activity. Open conversations are "
        "counted apart, as a share of all conversations."
    ),
    "containment": (
        "Resolved by bot ÷ finished conversations: the share the bot resolved on its own, "
        "without a handoff. Open conversations are left out: their outcome is not known yet."
    ),
    "handoff_rate": (
        "Conversations with at least one handoff ÷ all conversations of the period (open "
        "ones included). Handoffs: all handoff episodes of those conversations."
    ),
    "handoffs_by_trigger": (
        "Handoff episodes of the period's conversations by trigger, the reason the bot "
        "handed off (see handoff/README.md); a conversation handed off twice counts twice."
    ),
    "bot_first_response": (
        "Bot's first response time: from the conversation's first message (started_at) to "
        "the bot's first message (first_bot_response_at), over conversations with both."
    ),
    "person_first_response": (
        "A person's first response time: from a handoff being queued to the agent's first "
        "message to the customer, over handoff episodes an agent replied in."
    ),
    "time_to_claim": (
        "From a handoff being queued to an agent claiming it, over claimed handoff episodes."
    ),
    "resolution_time": (
        "By a person: from the conversation's first message to the agent resolving its "
        "latest handoff, over conversations resolved by human. By the bot: from the first "
        "message to the last message from anyone, over conversations resolved by bot (the "
        "idle wait that gives them their outcome is not counted)."
    ),
    "percentiles": (
        "Times show the median and the 90th percentile (p90: 9 in 10 were at most this), "
        "interpolated linearly between the two nearest values. Pairs with a missing or "
        "out-of-order time are left out."
    ),
    "csat": (
        "Customer satisfaction: the scores (1 = very poor … 5 = excellent) customers gave in "
        "the widget's survey for the period's conversations. Mean of the scores, how many "
        "gave each score, and response rate = conversations with a score ÷ all conversations."
    ),
    "csat_by_outcome": (
        "CSAT mean, scores and response rate per outcome (open: no outcome yet): "
        "conversations with a score ÷ conversations with that outcome."
    ),
    "csat_by_agent": (
        "Per agent: the agent of the conversation's latest handoff (who claimed it, or "
        "closed it from the queue as spam or duplicate). Conversations whose latest handoff "
        "no agent took are not counted here. Resolved by human: those of the agent's "
        "conversations with that outcome."
    ),
    "knowledge_answers": (
        "Questions the knowledge answerer got in the period and what it did: answered from "
        "an article, suggested articles, or could not answer (abstained)."
    ),
    "knowledge_decisions": (
        "Who decided what the answerer did: the language model (it read the retrieved "
        "passages and answered with citations or said it found no answer) or the offline "
        "answerer (its trained confidence: no model configured, the question below the "
        "retrieval floor, or the model failed, timed out or was busy). Grounding check: "
        "answers the model wrote, checked before the customer saw them (every number, code "
        "and link in the passages they cite); failed ones went back to the offline answerer. "
        "Not recorded: answers from before this was recorded."
    ),
    "answer_feedback": (
        'Customers\' "did this help?" verdicts given in the period, per answer type and '
        "per article; helpful = yes ÷ (yes + no)."
    ),
    "unanswered_questions": (
        "Questions the knowledge answerer abstained on in the period, grouped after "
        "lowercasing, collapsing spaces and dropping trailing punctuation: times asked and "
        "distinct customers (sender ids), most asked first. The wording shown is the most "
        "common one; card numbers, IBANs, email addresses and phone numbers are removed "
        "from it."
    ),
    "trends": (
        "Per UTC day on which conversations started: conversations by outcome (open: no "
        "outcome yet), handoff rate and CSAT mean of that day's conversations."
    ),
    "demo": (
        "Conversations whose sender id starts with demo- were made by the demo filler "
        "(python -m handoff demo), not by customers."
    ),
}


class ReportError(ValueError):
    """A bad period or option; the message says what to write instead."""


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, naive UTC
    end: datetime  # exclusive
    label: str

    def days(self) -> list[date]:
        """Every UTC day the period touches."""
        if self.end <= self.start:
            return []
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def parse_since(text: str, names: dict[str, str] = CLI_NAMES) -> tuple[int, str]:
    match = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text.lower())
    if not match or int(match.group(1)) == 0:
        raise ReportError(f"{SINCE_HELP.format(since=names['since'])}; got {text!r}")
    return int(match.group(1)), match.group(2)


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"{option} {DATE_HELP}; got {text!r}") from None


def resolve_period(
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    now: datetime | None = None,
    names: dict[str, str] = CLI_NAMES,
) -> Period:
    """The period from the CLI's or the URL's options: `since` (a span back from now), or
    whole UTC days `start`..`end` (both included; `end` defaults to today). Errors name
    the options as `names` does."""
    now = now or utcnow()
    since_, from_, to_ = names["since"], names["from"], names["to"]
    if since and (start or end):
        raise ReportError(f"use either {since_} or {from_}/{to_}, not both")
    if end and not start:
        raise ReportError(f"{to_} needs {from_} (the first day of the period)")
    if start:
        first = parse_day(start, from_)
        last = parse_day(end, to_) if end else now.date()
        if last < first:
            raise ReportError(f"{to_} ({last}) is before {from_} ({first})")
        label = f"{first:%d %b %Y} to {last:%d %b %Y}"
        begin = datetime.combine(first, datetime.min.time())
        return Period(begin, datetime.combine(last + timedelta(days=1), begin.time()), label)
    amount, unit = parse_since(since or DEFAULT_SINCE, names)
    name, step = SINCE_UNITS[unit]
    return Period(now - amount * step, now, f"last {amount} {name}{'s' if amount > 1 else ''}")


# -- arithmetic -----------------------------------------------------------------------------


def percentile(ordered: Sequence[float], p: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default); `ordered` sorted."""
    k = (len(ordered) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def duration_stats(seconds: list[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    if not ordered:
        return {"n": 0, "median_s": None, "p90_s": None}
    return {
        "n": len(ordered),
        "median_s": round(percentile(ordered, 0.5), 1),
        "p90_s": round(percentile(ordered, 0.9), 1),
    }


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def mean(values: Sequence[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _elapsed(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def _durations(pairs: list[tuple[datetime | None, datetime | None]]) -> dict[str, Any]:
    values = [s for s in (_elapsed(a, b) for a, b in pairs) if s is not None]
    return duration_stats(values)


def normalise_question(text: str) -> str:
    """The grouping key of a question: lowercase, single spaces, no trailing punctuation."""
    return re.sub(r"\s+", " ", text).strip().lower().rstrip(" ?!.,;:…")


# -- the report -----------------------------------------------------------------------------


@dataclass
class _ConversationRow:
    id: int
    sender_id: str
    outcome: str  # one of OUTCOMES_AND_OPEN
    started_at: datetime
    first_bot_response_at: datetime | None
    last_activity_at: datetime | None
    csat: int | None
    handoff_count: int


def build_report(db: Database, period: Period, now: datetime | None = None) -> dict[str, Any]:
    """Every figure for `period`, JSON-ready (times in seconds, shares from 0 to 1)."""
    with db.engine.connect() as conn:
        c = Conversation.__table__.c
        conversations = [
            _ConversationRow(r[0], r[1], r[2] or OPEN, r[3], r[4], r[5], r[6], r[7] or 0)
            for r in conn.execute(
                select(
                    c.id,
                    c.sender_id,
                    c.outcome,
                    c.started_at,
                    c.first_bot_response_at,
                    c.last_activity_at,
                    c.csat,
                    c.handoff_count,
                ).where(c.started_at >= period.start, c.started_at < period.end)
            )
        ]
        h = Handoff.__table__.c
        handoffs = conn.execute(
            select(
                h.conversation_id,
                h.trigger,
                h.queued_at,
                h.claimed_at,
                h.first_agent_reply_at,
                h.resolved_at,
                h.agent_name,
            )
            .join_from(Handoff.__table__, Conversation.__table__, h.conversation_id == c.id)
            .where(c.started_at >= period.start, c.started_at < period.end)
            .order_by(h.id)
        ).all()
        k = KnowledgeAnswer.__table__.c
        in_period = (k.created_at >= period.start, k.created_at < period.end)
        answer_types: dict[str, int] = {
            str(kind): int(n)
            for kind, n in conn.execute(
                select(k.answer_type, func.count()).where(*in_period).group_by(k.answer_type)
            )
        }
        deciders = conn.execute(
            select(k.decided_by, k.grounding, func.count())
            .where(*in_period)
            .group_by(k.decided_by, k.grounding)
        ).all()
        abstentions = conn.execute(
            select(k.sender_id, k.question)
            .where(*in_period, k.answer_type == ABSTAINED)
            .order_by(k.id)
        ).all()
        titles: dict[str, str | None] = {
            str(path): title
            for path, title in conn.execute(
                select(k.article_path, func.max(k.article_title))
                .where(*in_period, k.article_path.is_not(None))
                .group_by(k.article_path)
            )
        }
        f = AnswerFeedback.__table__.c
        feedback = conn.execute(
            select(f.article_path, f.answer_type, f.verdict).where(
                f.created_at >= period.start, f.created_at < period.end
            )
        ).all()

    latest: dict[int, Any] = {}  # conversation id -> its latest handoff row
    for row in handoffs:
        latest[row.conversation_id] = row
    figures = {
        **_conversation_figures(conversations, latest),
        **_handoff_figures(conversations, handoffs),
        **_csat_figures(conversations, latest),
        "knowledge_answers": _knowledge_answers(answer_types, deciders),
        "answer_feedback": _answer_feedback(feedback, titles),
        "unanswered_questions": _unanswered(abstentions),
        "trends": _trends(conversations, period),
    }
    demo = sum(1 for conv in conversations if conv.sender_id.startswith(DEMO_PREFIX))
    return {
        "title": "Parley support report",
        "period": {
            "from": _iso(period.start),
            "to": _iso(period.end),
            "label": period.label,
        },
        "generated_at": _iso(now or utcnow()),
        "demo": _demo_notice(demo, len(conversations)),
        "definitions": DEFINITIONS,
        "figures": figures,
    }


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds") + "Z"


def _demo_notice(demo: int, total: int) -> dict[str, Any] | None:
    if not demo:
        return None
    return {
        "conversations": demo,
        "of": total,
        "notice": (
            f"This report shows demo data: {demo:,} of {total:,} conversations were made up "
            "by the demo filler (python -m handoff demo; sender ids starting with demo-), "
            "not by customers."
        ),
    }


def _conversation_figures(
    conversations: list[_ConversationRow], latest: dict[int, Any]
) -> dict[str, Any]:
    total = len(conversations)
    counts = Counter(conv.outcome for conv in conversations)
    finished = total - counts[OPEN]
    human = [latest.get(conv.id) for conv in conversations]
    return {
        "conversations": {"total": total, "finished": finished, "open": counts[OPEN]},
        "outcomes": {
            "finished": finished,
            "counts": {o: counts[o] for o in OUTCOMES},
            "shares": {o: share(counts[o], finished) for o in OUTCOMES},
            "open": counts[OPEN],
            "open_share": share(counts[OPEN], total),
        },
        "containment": {
            "share": share(counts[RESOLVED_BY_BOT], finished),
            "resolved_by_bot": counts[RESOLVED_BY_BOT],
            "finished": finished,
        },
        "bot_first_response": _durations(
            [(conv.started_at, conv.first_bot_response_at) for conv in conversations]
        ),
        "resolution_time": {
            "by_person": _durations(
                [
                    (conv.started_at, h.resolved_at)
                    for conv, h in zip(conversations, human, strict=True)
                    if conv.outcome == RESOLVED_BY_HUMAN and h is not None
                ]
            ),
            "by_bot": _durations(
                [
                    (conv.started_at, conv.last_activity_at)
                    for conv in conversations
                    if conv.outcome == RESOLVED_BY_BOT
                ]
            ),
        },
    }


def _handoff_figures(
    conversations: list[_ConversationRow], handoffs: Sequence[Any]
) -> dict[str, Any]:
    total = len(conversations)
    handed_off = sum(1 for conv in conversations if conv.handoff_count > 0)
    triggers = Counter(str(row.trigger) for row in handoffs)
    return {
        "handoff_rate": {
            "share": share(handed_off, total),
            "conversations_with_handoff": handed_off,
            "conversations": total,
            "handoffs": len(handoffs),
        },
        "handoffs_by_trigger": [
            {"trigger": trigger, "handoffs": n, "share": share(n, len(handoffs))}
            for trigger, n in sorted(triggers.items(), key=lambda item: (-item[1], item[0]))
        ],
        "person_first_response": _durations(
            [(row.queued_at, row.first_agent_reply_at) for row in handoffs]
        ),
        "time_to_claim": _durations([(row.queued_at, row.claimed_at) for row in handoffs]),
    }


def _csat_group(conversations: Sequence[_ConversationRow]) -> dict[str, Any]:
    scores = [conv.csat for conv in conversations if conv.csat is not None]
    counts = Counter(scores)
    return {
        "conversations": len(conversations),
        "responses": len(scores),
        "response_rate": share(len(scores), len(conversations)),
        "mean": mean(scores),
        "distribution": {str(score): counts[score] for score in range(1, 6)},
    }


def _csat_figures(conversations: list[_ConversationRow], latest: dict[int, Any]) -> dict[str, Any]:
    by_outcome: dict[str, list[_ConversationRow]] = defaultdict(list)
    by_agent: dict[str, list[_ConversationRow]] = defaultdict(list)
    for conv in conversations:
        by_outcome[conv.outcome].append(conv)
        h = latest.get(conv.id)
        if h is not None and h.agent_name:
            by_agent[str(h.agent_name)].append(conv)
    agents = sorted(by_agent.items(), key=lambda item: (-len(item[1]), item[0]))
    return {
        "csat": _csat_group(conversations),
        "csat_by_outcome": [
            {"outcome": outcome, **_csat_group(by_outcome[outcome])}
            for outcome in OUTCOMES_AND_OPEN
        ],
        "csat_by_agent": [
            {
                "agent": agent,
                **_csat_group(convs),
                "resolved_by_human": sum(1 for conv in convs if conv.outcome == RESOLVED_BY_HUMAN),
            }
            for agent, convs in agents
        ],
    }


def _knowledge_answers(
    answer_types: dict[str, int], deciders: Sequence[Any] = ()
) -> dict[str, Any]:
    total = sum(answer_types.values())
    kinds = {"answered": ANSWERED, "suggested": SUGGESTED, "abstained": ABSTAINED}
    counts = {name: int(answer_types.get(kind, 0)) for name, kind in kinds.items()}
    decided: Counter[str] = Counter()
    grounding: Counter[str] = Counter()
    for by, verdict, n in deciders:
        decided[by if by in ("model", "offline") else "not recorded"] += int(n)
        if verdict in ("passed", "failed"):
            grounding[verdict] += int(n)
    checked = grounding["passed"] + grounding["failed"]
    return {
        "questions": total,
        **counts,
        "shares": {name: share(n, total) for name, n in counts.items()},
        "decided_by": {
            name: {"questions": decided[name], "share": share(decided[name], total)}
            for name in ("model", "offline", "not recorded")
        },
        "grounding": {
            "checked": checked,
            "passed": grounding["passed"],
            "failed": grounding["failed"],
            "failed_share": share(grounding["failed"], checked),
        },
    }


def _verdicts(yes: int, no: int) -> dict[str, Any]:
    return {"yes": yes, "no": no, "total": yes + no, "helpful_share": share(yes, yes + no)}


def _answer_feedback(feedback: Sequence[Any], titles: dict[str, str | None]) -> dict[str, Any]:
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    by_article: dict[str, Counter[str]] = defaultdict(Counter)
    for path, answer_type, verdict in feedback:
        by_type[str(answer_type)][verdict] += 1
        by_article[str(path or "")][verdict] += 1
    yes = sum(c["yes"] for c in by_type.values())
    no = sum(c["no"] for c in by_type.values())
    articles = [
        {"article_path": path, "article_title": titles.get(path), **_verdicts(c["yes"], c["no"])}
        for path, c in by_article.items()
    ]
    # Most-judged first; among equals the least helpful first (those need attention).
    articles.sort(key=lambda a: (-a["total"], a["helpful_share"] or 0.0, a["article_path"]))
    return {
        **_verdicts(yes, no),
        "by_answer_type": [
            {"answer_type": kind, **_verdicts(c["yes"], c["no"])}
            for kind, c in sorted(by_type.items())
        ],
        "by_article": articles,
    }


def _unanswered(abstentions: Sequence[Any]) -> dict[str, Any]:
    redacted: dict[str, str] = {}  # many customers ask the same words: redact each once
    wordings: dict[str, Counter[str]] = defaultdict(Counter)
    customers: dict[str, set[str]] = defaultdict(set)
    for sender_id, question in abstentions:
        raw = str(question or "")
        if raw not in redacted:
            redacted[raw] = re.sub(r"\s+", " ", redact(raw)).strip()
        shown = redacted[raw]
        key = normalise_question(shown)
        if not key:
            continue
        wordings[key][shown] += 1
        customers[key].add(str(sender_id))
    ranked = sorted(wordings, key=lambda key: (-wordings[key].total(), -len(customers[key]), key))
    return {
        "abstentions": len(abstentions),
        "distinct_questions": len(wordings),
        "top": [
            {
                "question": wordings[key].most_common(1)[0][0],
                "times": wordings[key].total(),
                "customers": len(customers[key]),
            }
            for key in ranked[:TOP_QUESTIONS]
        ],
    }


def _trends(conversations: list[_ConversationRow], period: Period) -> dict[str, Any]:
    per_day: dict[date, list[_ConversationRow]] = defaultdict(list)
    for conv in conversations:
        per_day[conv.started_at.date()].append(conv)
    days = []
    for day in period.days():
        convs = per_day.get(day, [])
        outcomes = Counter(conv.outcome for conv in convs)
        scores = [conv.csat for conv in convs if conv.csat is not None]
        days.append(
            {
                "date": day.isoformat(),
                "conversations": len(convs),
                "outcomes": {o: outcomes[o] for o in OUTCOMES_AND_OPEN},
                "handoff_rate": share(sum(1 for c in convs if c.handoff_count > 0), len(convs)),
                "csat_mean": mean(scores),
                "csat_responses": len(scores),
            }
        )
    return {"days": days}
