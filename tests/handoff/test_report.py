"""The support lead's report on a small fixed ledger, every figure checked against values
worked out by hand (see the comments), plus the period options, an empty database, HTML
escaping, the command line and GET /report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from handoff.__main__ import main
from handoff.db import Database
from handoff.models import KnowledgeAnswer
from handoff.report import (
    DEFINITIONS,
    Period,
    ReportError,
    build_report,
    normalise_question,
    resolve_period,
)
from handoff.report_html import render_html
from handoff.service import HandoffService
from tests.handoff.samples import sample_packet

DAY1 = datetime(2026, 11, 2)  # the fixed ledger's period: 2 and 3 November 2026
DAY2 = datetime(2026, 11, 3)
GENERATED = datetime(2026, 11, 10, 8, 0)


def at(day: datetime, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm, second=ss)


class Clock:
    def __init__(self) -> None:
        self.now = DAY1

    def __call__(self) -> datetime:
        return self.now


def _ts(when: datetime) -> float:
    return when.replace(tzinfo=UTC).timestamp()


class Ledger:
    """Writes the fixed ledger through the service's own methods at chosen times."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = Clock()
        self.service = HandoffService(db, clock=self.clock)

    def user(self, sender: str, when: datetime) -> None:
        self.clock.now = when  # a new conversation row starts "now"
        self.service.note_rasa_event(
            {"event": "user", "sender_id": sender, "text": "hi", "timestamp": _ts(when)}
        )

    def bot(self, sender: str, when: datetime, abstained: bool = False) -> None:
        self.clock.now = when
        if abstained:
            self.service.note_rasa_event(
                {
                    "event": "slot",
                    "sender_id": sender,
                    "name": "kb_answer_type",
                    "value": "abstain",
                    "timestamp": _ts(when),
                }
            )
        self.service.note_rasa_event(
            {"event": "bot", "sender_id": sender, "text": "...", "timestamp": _ts(when)}
        )

    def chat(self, sender: str, started: datetime, bot_after_s: float) -> None:
        self.user(sender, started)
        self.bot(sender, started + timedelta(seconds=bot_after_s))

    def handoff(self, sender: str, trigger: str, queued: datetime) -> int:
        self.clock.now = queued
        return self.service.open_handoff(sender, sample_packet(trigger)).handoff_id

    def work(
        self,
        hid: int,
        agent: str,
        claimed: datetime,
        replied: datetime,
        resolved: datetime,
        resolution: str = "resolved",
        hand_back: bool = True,
    ) -> None:
        self.clock.now = claimed
        self.service.claim(hid, f"U-{agent}", agent)
        self.clock.now = replied
        self.service.agent_reply(hid, f"U-{agent}", "Hello, how can I help?")
        self.clock.now = resolved
        self.service.resolve(hid, f"U-{agent}", resolution, hand_back=hand_back)

    def feedback(self, when: datetime, verdict: str, path: str, answer_type: str = "kb") -> None:
        self.clock.now = when
        self.service.record_feedback(f"fb-{path}", verdict, "q", path, "v1", answer_type, 0.7)

    def answer(
        self,
        sender: str,
        when: datetime,
        kind: str,
        question: str = "q",
        path: str = "",
        decided_by: str | None = "offline",
        grounding: str | None = None,
    ):
        titles = {"returns.md": "Returns", "shipping.md": "Shipping", "warranty.md": "Warranty"}
        with self.db.session() as session:
            session.add(
                KnowledgeAnswer(
                    sender_id=sender,
                    question=question,
                    answer_type=kind,
                    article_path=path or None,
                    article_title=titles.get(path),
                    decided_by=decided_by,
                    grounding=grounding,
                    created_at=when,
                )
            )


def fixed_ledger(db: Database) -> None:
    """Eight conversations in the period (c1..c8), two just outside it (c0, c9)."""
    ld = Ledger(db)
    # Outside the period: just before and just at its end. They must count nowhere.
    ld.chat("c0", datetime(2026, 11, 1, 23, 59, 59), 1)
    ld.service.record_csat("c0", 1)
    ld.chat("c9", datetime(2026, 11, 4), 1)
    hid = ld.handoff("c9", "sensitive_topic", datetime(2026, 11, 4, 0, 1))
    ld.work(hid, "Zed", *(datetime(2026, 11, 4, 0, m) for m in (2, 3, 4)))
    ld.service.record_csat("c9", 1)

    # Day 1. c1, c2: the bot answers (first response 2 s, 4 s), resolved by bot.
    ld.chat("c1", at(DAY1, 9), 2)
    ld.user("c1", at(DAY1, 9, 1))  # last activity 60 s after the start
    ld.chat("c2", at(DAY1, 10), 4)  # last activity 4 s after the start
    # c3: the bot's last answer is an abstention (6 s): unresolved when it goes idle.
    ld.user("c3", at(DAY1, 11))
    ld.bot("c3", at(DAY1, 11, 0, 6), abstained=True)
    # c4: 1 s; handoff at 12:01, Ana claims 12:02 (60 s), replies 12:03 (120 s after the
    # queue), resolves at 12:10 and hands back: resolved by human, 600 s after the start.
    ld.chat("c4", at(DAY1, 12), 1)
    hid = ld.handoff("c4", "explicit_request", at(DAY1, 12, 1))
    ld.work(hid, "Ana", at(DAY1, 12, 2), at(DAY1, 12, 3), at(DAY1, 12, 10))

    # Day 2. c5: 3 s; frustration at 9:00:30, Bo claims 30 s later, replies after 60 s,
    # resolves and closes at 9:05: resolved by human, 300 s.
    ld.chat("c5", at(DAY2, 9), 3)
    hid = ld.handoff("c5", "frustration", at(DAY2, 9, 0, 30))
    ld.work(hid, "Bo", at(DAY2, 9, 1), at(DAY2, 9, 1, 30), at(DAY2, 9, 5), hand_back=False)
    # c6: 10 s; handed off (abstentions), nobody claims it: abandoned.
    ld.chat("c6", at(DAY2, 10), 10)
    ld.handoff("c6", "abstentions", at(DAY2, 10, 1))
    # c7: 2 s; two handoffs. Bo claims the first after 30 s, replies at 40 s, resolves it;
    # the second (loop) Ana claims after 60 s, replies at 180 s, resolves as not resolved.
    ld.chat("c7", at(DAY2, 11), 2)
    hid = ld.handoff("c7", "explicit_request", at(DAY2, 11, 0, 20))
    ld.work(hid, "Bo", at(DAY2, 11, 0, 50), at(DAY2, 11, 1), at(DAY2, 11, 2))
    hid = ld.handoff("c7", "loop", at(DAY2, 11, 3))
    ld.work(
        hid,
        "Ana",
        at(DAY2, 11, 4),
        at(DAY2, 11, 6),
        at(DAY2, 11, 8),
        "not_resolved",
        hand_back=False,
    )
    # c8: 5 s, still live when the day ends: open.
    ld.chat("c8", at(DAY2, 23, 50), 5)

    ld.service.sweep_idle(timedelta(minutes=30), now=at(DAY2, 23, 55))
    for sender, score in (("c1", 5), ("c2", 5), ("c3", 2), ("c4", 4), ("c5", 3), ("c7", 1)):
        ld.service.record_csat(sender, score)

    # Knowledge answers: 3 answered, 1 suggested, 6 abstained in the period; one outside.
    ld.answer(
        "c1", at(DAY1, 9, 0, 2), "kb", path="returns.md", decided_by="model", grounding="passed"
    )
    ld.answer(
        "c2", at(DAY1, 10, 0, 4), "kb", path="shipping.md", decided_by="model", grounding="passed"
    )
    ld.answer("c4", at(DAY1, 12, 0, 1), "kb", path="returns.md", decided_by=None)
    ld.answer("c5", at(DAY2, 9, 0, 3), "suggest", path="warranty.md", grounding="failed")
    ld.answer("c3", at(DAY1, 11, 0, 6), "abstain", "Do you ship to Mars??", decided_by="model")
    ld.answer("c6", at(DAY2, 10, 0, 10), "abstain", "do you   ship to mars")
    ld.answer("c3", at(DAY1, 11, 0, 30), "abstain", "DO YOU SHIP TO MARS!")
    ld.answer("c7", at(DAY2, 11), "abstain", "My card 4111 1111 1111 1111 was charged twice.")
    ld.answer("c8", at(DAY2, 23, 50), "abstain", "my card 5500 0000 0000 0004 was charged twice")
    ld.answer("c8", at(DAY2, 23, 51), "abstain", "  ?  ")  # nothing left to group
    ld.answer("c9", datetime(2026, 11, 4, 0, 0, 1), "abstain", "outside the period")

    # Feedback: returns yes, no, yes; shipping no; warranty (a suggestion) yes; one outside.
    ld.feedback(at(DAY1, 9, 1), "yes", "returns.md")
    ld.feedback(at(DAY1, 12, 5), "no", "returns.md")
    ld.feedback(at(DAY2, 9, 2), "yes", "returns.md")
    ld.feedback(at(DAY1, 10, 1), "no", "shipping.md")
    ld.feedback(at(DAY2, 9, 1), "yes", "warranty.md", "suggest")
    ld.feedback(datetime(2026, 11, 4, 0, 5), "no", "returns.md")


PERIOD = Period(DAY1, datetime(2026, 11, 4), "2 to 3 November")


@pytest.fixture
def ledger_db(db: Database) -> Database:
    fixed_ledger(db)
    return db


@pytest.fixture
def figures(ledger_db: Database) -> dict[str, Any]:
    return build_report(ledger_db, PERIOD, now=GENERATED)["figures"]


def test_conversations_outcomes_and_containment(figures: dict[str, Any]) -> None:
    assert figures["conversations"] == {"total": 8, "finished": 7, "open": 1}
    outcomes = figures["outcomes"]
    assert outcomes["counts"] == {
        "resolved_by_bot": 2,  # c1, c2
        "resolved_by_human": 2,  # c4, c5
        "unresolved": 2,  # c3 (abstained), c7 (not resolved)
        "abandoned": 1,  # c6
    }
    assert outcomes["shares"] == pytest.approx(
        {
            "resolved_by_bot": 2 / 7,
            "resolved_by_human": 2 / 7,
            "unresolved": 2 / 7,
            "abandoned": 1 / 7,
        },
        abs=1e-4,
    )
    assert (outcomes["open"], outcomes["open_share"]) == (1, 0.125)
    assert figures["containment"] == {"share": 0.2857, "resolved_by_bot": 2, "finished": 7}


def test_handoff_rate_and_triggers(figures: dict[str, Any]) -> None:
    # c4, c5, c6, c7 of 8; c7 twice, so 5 handoffs.
    assert figures["handoff_rate"] == {
        "share": 0.5,
        "conversations_with_handoff": 4,
        "conversations": 8,
        "handoffs": 5,
    }
    assert figures["handoffs_by_trigger"] == [
        {"trigger": "explicit_request", "handoffs": 2, "share": 0.4},
        {"trigger": "abstentions", "handoffs": 1, "share": 0.2},
        {"trigger": "frustration", "handoffs": 1, "share": 0.2},
        {"trigger": "loop", "handoffs": 1, "share": 0.2},
    ]


def test_response_and_resolution_times(figures: dict[str, Any]) -> None:
    # Bot: 1 2 2 3 4 5 6 10 s. Median between the 4th and 5th (3.5); p90 at rank 6.3:
    # 6 + 0.3 * (10 - 6) = 7.2.
    assert figures["bot_first_response"] == {"n": 8, "median_s": 3.5, "p90_s": 7.2}
    # A person: 40 60 120 180 s (c7, c5, c4, c7's second). p90 at rank 2.7: 120 + 0.7 * 60.
    assert figures["person_first_response"] == {"n": 4, "median_s": 90.0, "p90_s": 162.0}
    # Claim: 30 30 60 60 s; c6 was never claimed.
    assert figures["time_to_claim"] == {"n": 4, "median_s": 45.0, "p90_s": 60.0}
    # By a person: c5 300 s, c4 600 s; by the bot: c2 4 s, c1 60 s.
    assert figures["resolution_time"] == {
        "by_person": {"n": 2, "median_s": 450.0, "p90_s": 570.0},
        "by_bot": {"n": 2, "median_s": 32.0, "p90_s": 54.4},
    }


def test_csat_overall_by_outcome_and_by_agent(figures: dict[str, Any]) -> None:
    # Scores 5 5 2 4 3 1 from 6 of 8 conversations; the outside ones' 1s do not count.
    assert figures["csat"] == {
        "conversations": 8,
        "responses": 6,
        "response_rate": 0.75,
        "mean": 3.33,
        "distribution": {"1": 1, "2": 1, "3": 1, "4": 1, "5": 2},
    }
    assert figures["csat_by_outcome"] == [
        {
            "outcome": "resolved_by_bot",
            "conversations": 2,
            "responses": 2,
            "response_rate": 1.0,
            "mean": 5.0,
            "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 2},
        },
        {
            "outcome": "resolved_by_human",
            "conversations": 2,
            "responses": 2,
            "response_rate": 1.0,
            "mean": 3.5,
            "distribution": {"1": 0, "2": 0, "3": 1, "4": 1, "5": 0},
        },
        {
            "outcome": "unresolved",
            "conversations": 2,
            "responses": 2,
            "response_rate": 1.0,
            "mean": 1.5,
            "distribution": {"1": 1, "2": 1, "3": 0, "4": 0, "5": 0},
        },
        {
            "outcome": "abandoned",
            "conversations": 1,
            "responses": 0,
            "response_rate": 0.0,
            "mean": None,
            "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
        },
        {
            "outcome": "open",
            "conversations": 1,
            "responses": 0,
            "response_rate": 0.0,
            "mean": None,
            "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
        },
    ]
    # The agent of the latest handoff: Ana for c4 and c7 (c7's first was Bo's), Bo for c5.
    assert figures["csat_by_agent"] == [
        {
            "agent": "Ana",
            "conversations": 2,
            "responses": 2,
            "response_rate": 1.0,
            "mean": 2.5,
            "distribution": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 0},  # c7 1, c4 4
            "resolved_by_human": 1,
        },
        {
            "agent": "Bo",
            "conversations": 1,
            "responses": 1,
            "response_rate": 1.0,
            "mean": 3.0,
            "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 0},
            "resolved_by_human": 1,
        },
    ]


def test_knowledge_answers_and_feedback(figures: dict[str, Any]) -> None:
    assert figures["knowledge_answers"] == {
        "questions": 10,
        "answered": 3,
        "suggested": 1,
        "abstained": 6,
        "shares": {"answered": 0.3, "suggested": 0.1, "abstained": 0.6},
        # c1, c2 answered by the model, c3's first question declined by it; c4's row is from
        # before who decided was recorded; c5's suggestion came after a failed check.
        "decided_by": {
            "model": {"questions": 3, "share": 0.3},
            "offline": {"questions": 6, "share": 0.6},
            "not recorded": {"questions": 1, "share": 0.1},
        },
        "grounding": {"checked": 3, "passed": 2, "failed": 1, "failed_share": 0.3333},
    }
    feedback = figures["answer_feedback"]
    assert (feedback["yes"], feedback["no"], feedback["total"], feedback["helpful_share"]) == (
        3,
        2,
        5,
        0.6,
    )
    assert feedback["by_answer_type"] == [
        {"answer_type": "kb", "yes": 2, "no": 2, "total": 4, "helpful_share": 0.5},
        {"answer_type": "suggest", "yes": 1, "no": 0, "total": 1, "helpful_share": 1.0},
    ]
    # Most verdicts first; of two with one verdict each, the unhelpful one first.
    assert feedback["by_article"] == [
        {
            "article_path": "returns.md",
            "article_title": "Returns",
            "yes": 2,
            "no": 1,
            "total": 3,
            "helpful_share": 0.6667,
        },
        {
            "article_path": "shipping.md",
            "article_title": "Shipping",
            "yes": 0,
            "no": 1,
            "total": 1,
            "helpful_share": 0.0,
        },
        {
            "article_path": "warranty.md",
            "article_title": "Warranty",
            "yes": 1,
            "no": 0,
            "total": 1,
            "helpful_share": 1.0,
        },
    ]


def test_unanswered_questions_grouped_and_redacted(figures: dict[str, Any]) -> None:
    assert figures["unanswered_questions"] == {
        "abstentions": 6,
        "distinct_questions": 2,
        "top": [
            # Three wordings, two customers (c3 asked twice); the first wording is shown.
            {"question": "Do you ship to Mars??", "times": 3, "customers": 2},
            # Different card numbers, the same question once they are removed.
            {
                "question": "My card [card number removed] was charged twice.",
                "times": 2,
                "customers": 2,
            },
        ],
    }


def test_trends_per_day(figures: dict[str, Any]) -> None:
    day1, day2 = figures["trends"]["days"]
    assert day1 == {
        "date": "2026-11-02",
        "conversations": 4,
        "outcomes": {
            "resolved_by_bot": 2,
            "resolved_by_human": 1,
            "unresolved": 1,
            "abandoned": 0,
            "open": 0,
        },
        "handoff_rate": 0.25,
        "csat_mean": 4.0,  # 5 5 2 4
        "csat_responses": 4,
    }
    assert day2 == {
        "date": "2026-11-03",
        "conversations": 4,
        "outcomes": {
            "resolved_by_bot": 0,
            "resolved_by_human": 1,
            "unresolved": 1,
            "abandoned": 1,
            "open": 1,
        },
        "handoff_rate": 0.75,
        "csat_mean": 2.0,  # 3 1
        "csat_responses": 2,
    }


def test_report_carries_period_definitions_and_no_demo_notice(ledger_db: Database) -> None:
    report = build_report(ledger_db, PERIOD, now=GENERATED)
    assert report["period"] == {
        "from": "2026-11-02T00:00:00Z",
        "to": "2026-11-04T00:00:00Z",
        "label": "2 to 3 November",
    }
    assert report["generated_at"] == "2026-11-10T08:00:00Z"
    assert report["demo"] is None
    assert report["definitions"] is DEFINITIONS
    assert set(report["figures"]) <= set(DEFINITIONS)
    json.dumps(report)  # JSON-ready as it is


def test_a_narrower_period_counts_only_its_conversations(ledger_db: Database) -> None:
    day2 = build_report(ledger_db, Period(DAY2, datetime(2026, 11, 4), "3 November"))
    figures = day2["figures"]
    assert figures["conversations"] == {"total": 4, "finished": 3, "open": 1}
    assert figures["handoff_rate"]["handoffs"] == 4  # c5, c6 and c7's two
    assert [d["date"] for d in figures["trends"]["days"]] == ["2026-11-03"]
    assert figures["knowledge_answers"]["questions"] == 5


def test_demo_conversations_are_announced(db: Database) -> None:
    ld = Ledger(db)
    ld.chat("demo-0001", at(DAY1, 9), 1)
    ld.chat("demo-0002", at(DAY1, 10), 1)
    ld.chat("real-customer", at(DAY1, 11), 1)
    report = build_report(db, PERIOD)
    assert report["demo"]["conversations"] == 2 and report["demo"]["of"] == 3
    assert report["demo"]["notice"].startswith("This report shows demo data: 2 of 3")
    page = render_html(report)
    assert 'id="demo-banner"' in page and "This report shows demo data: 2 of 3" in page
    assert 'id="demo-banner"' not in render_html(build_report(db, Period(DAY2, DAY2, "none")))


def test_an_empty_period_has_no_data_instead_of_errors(db: Database) -> None:
    report = build_report(db, PERIOD)
    figures = report["figures"]
    assert figures["conversations"] == {"total": 0, "finished": 0, "open": 0}
    assert figures["containment"]["share"] is None
    assert figures["handoff_rate"]["share"] is None
    assert figures["bot_first_response"] == {"n": 0, "median_s": None, "p90_s": None}
    assert figures["csat"]["mean"] is None and figures["csat"]["response_rate"] is None
    assert figures["answer_feedback"]["helpful_share"] is None
    assert figures["unanswered_questions"]["top"] == []
    assert [d["conversations"] for d in figures["trends"]["days"]] == [0, 0]
    page = render_html(report)
    assert "<img" not in page  # no chart without data
    assert "No data in this period" in page and "no data" in page


def test_hostile_text_is_escaped_and_charts_survive_dollar_signs(db: Database) -> None:
    ld = Ledger(db)
    ld.chat("c1", at(DAY1, 9), 1)
    hid = ld.handoff("c1", "<script>window.__t=1</script>", at(DAY1, 9, 1))
    agent = '<img src=x onerror="window.__a=1">'
    ld.work(hid, agent, at(DAY1, 9, 2), at(DAY1, 9, 3), at(DAY1, 9, 4))
    ld.answer("c1", at(DAY1, 9), "abstain", "<script>window.__q=1</script> costs $5 or $6?")
    title_path = '"><svg onload=window.__p=1>$x^2$'
    ld.answer("c1", at(DAY1, 9), "kb", "q", path=title_path)
    ld.feedback(at(DAY1, 9, 5), "no", title_path)

    page = render_html(build_report(db, PERIOD))

    for raw in ("<script>", "<img src=x", "<svg onload", 'onerror="'):
        assert raw not in page
    assert "&lt;script&gt;window.__q=1&lt;/script&gt; costs $5 or $6" in page
    assert "&lt;img src=x onerror=&quot;window.__a=1&quot;&gt;" in page
    assert "&quot;&gt;&lt;svg onload=window.__p=1&gt;" in page
    # Nothing but inline styles and data: images: no script, no link to anywhere.
    assert "<script" not in page and "http://" not in page and "https://" not in page


@pytest.mark.parametrize(
    ("since", "start", "end", "expected"),
    [
        ("7d", None, None, (datetime(2026, 11, 3, 12), "last 7 days")),
        ("12h", None, None, (datetime(2026, 11, 10, 0), "last 12 hours")),
        ("1w", None, None, (datetime(2026, 11, 3, 12), "last 1 week")),
        (None, None, None, (datetime(2026, 10, 11, 12), "last 30 days")),
    ],
)
def test_since_counts_back_from_now(
    since: str | None, start: str | None, end: str | None, expected: tuple[datetime, str]
) -> None:
    now = datetime(2026, 11, 10, 12)
    period = resolve_period(since, start, end, now=now)
    assert (period.start, period.label) == expected and period.end == now


def test_from_and_to_are_whole_days_both_included() -> None:
    period = resolve_period(None, "2026-11-02", "2026-11-03")
    assert (period.start, period.end) == (DAY1, datetime(2026, 11, 4))
    assert [d.isoformat() for d in period.days()] == ["2026-11-02", "2026-11-03"]
    today = resolve_period(None, "2026-11-09", None, now=datetime(2026, 11, 10, 12))
    assert today.end == datetime(2026, 11, 11)


@pytest.mark.parametrize(
    ("since", "start", "end", "message"),
    [
        ("7", None, None, "--since takes e.g. 7d, 12h or 4w"),
        ("0d", None, None, "--since takes"),
        ("a week", None, None, "--since takes"),
        ("7d", "2026-11-01", None, "either --since or --from/--to"),
        (None, None, "2026-11-01", "--to needs --from"),
        (None, "2026-13-01", None, "--from dates are YYYY-MM-DD"),
        (None, "2026-11-05", "2026-11-01", "is before --from"),
    ],
)
def test_bad_periods_say_what_to_write(
    since: str | None, start: str | None, end: str | None, message: str
) -> None:
    with pytest.raises(ReportError, match=message):
        resolve_period(since, start, end)


def test_questions_are_grouped_by_their_normal_form() -> None:
    assert normalise_question("  Do you ship\tto  MARS?!  ") == "do you ship to mars"
    assert normalise_question("Refund…") == "refund"
    assert normalise_question(" ?! ") == ""


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HANDOFF_DB_URL", raising=False)
    monkeypatch.setenv("PARLEY_STATE_DIR", str(tmp_path))
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    fixed_ledger(db)
    db.dispose()
    return tmp_path


def test_cli_json_to_standard_output(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--from", "2026-11-02", "--to", "2026-11-03", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["figures"]["conversations"]["total"] == 8
    assert report["figures"]["bot_first_response"]["median_s"] == 3.5
    assert report["definitions"]["containment"] == DEFINITIONS["containment"]


def test_cli_html_goes_to_the_state_folder_or_out(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--from", "2026-11-02", "--to", "2026-11-03"]) == 0
    page = (state / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and 'id="card-conversations"' in page
    assert str(state / "report.html") in capsys.readouterr().err

    out = state / "sub" / "nov.json"
    assert main(["report", "--from", "2026-11-03", "--json", "--out", str(out)]) == 0
    # Up to today: c5..c8 and c9 (4 November).
    assert json.loads(out.read_text())["figures"]["conversations"]["total"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "soon"], "--since takes e.g. 7d, 12h or 4w"),
        (["--since", "7d", "--from", "2026-11-01"], "either --since or --from/--to"),
        (["--from", "1 Nov"], "--from dates are YYYY-MM-DD"),
    ],
)
def test_cli_bad_options_exit_2_with_a_message(
    state: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["report", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (state / "report.html").exists()


# -- GET /report ------------------------------------------------------------------------------


def test_report_page_needs_the_internal_token(tmp_path: Path) -> None:
    from tests.handoff.fake_rasa import FakeRasa
    from tests.handoff.slack_helpers import running, settings_for

    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    fixed_ledger(db)
    db.dispose()
    rasa = FakeRasa()
    try:
        with running(settings_for(tmp_path, None, rasa)) as server:
            response = httpx.get(f"http://127.0.0.1:{server.port}/report?token=x")
            assert response.status_code == 403
            assert "set HANDOFF_INTERNAL_TOKEN" in response.text

        with running(settings_for(tmp_path, None, rasa, HANDOFF_INTERNAL_TOKEN="s3cret")) as server:
            url = f"http://127.0.0.1:{server.port}/report"
            period = "from=2026-11-02&to=2026-11-03"
            assert httpx.get(f"{url}?{period}").status_code == 401
            assert httpx.get(f"{url}?{period}&token=s3cre").status_code == 401
            wrong = httpx.get(url, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and "token" in wrong.text

            page = httpx.get(f"{url}?{period}&token=s3cret")
            assert page.status_code == 200
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert "default-src 'none'" in page.headers["content-security-policy"]
            assert page.headers["referrer-policy"] == "no-referrer"
            assert "02 Nov 2026 00:00 to 04 Nov 2026 00:00" in page.text

            data = httpx.get(
                f"{url}?{period}&format=json", headers={"Authorization": "Bearer s3cret"}
            )
            assert data.status_code == 200
            assert data.json()["figures"]["handoff_rate"]["share"] == 0.5

            bad = httpx.get(f"{url}?since=forever&token=s3cret")
            assert bad.status_code == 400 and "since= takes e.g. 7d" in bad.text
    finally:
        rasa.stop()


def test_matplotlib_gets_a_writable_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from handoff import report_charts

    monkeypatch.delenv("MPLCONFIGDIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    report_charts._writable_matplotlib_config()
    assert "MPLCONFIGDIR" not in os.environ  # its own folder can be made: left alone

    # A read-only home: a fixed private folder, so the font list is built once, not per run.
    monkeypatch.setattr(report_charts.os, "access", lambda path, mode: False)
    monkeypatch.setattr(report_charts.tempfile, "gettempdir", lambda: str(tmp_path))
    report_charts._writable_matplotlib_config()
    fallback = tmp_path / f"parley-matplotlib-{os.getuid()}"
    assert os.environ["MPLCONFIGDIR"] == str(fallback) and fallback.is_dir()
