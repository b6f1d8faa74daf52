"""The demo filler plays a month of conversations through the real handoff code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from handoff.db import Database
from handoff.demo import DEMO_PREFIX, DemoFiller, clear_demo, count_conversations, load_script
from handoff.models import (
    AnswerFeedback,
    Conversation,
    Handoff,
    KnowledgeAnswer,
    Message,
    OutboxItem,
)

ROOT = Path(__file__).resolve().parents[2]


def scripted_answerer(script: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Abstains on the gap topics' questions, answers the rest (a stand-in for the index)."""
    gaps = {q for topic in script["gaps"] for q in topic["questions"]}

    def answer(question: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        if question.rstrip("?") in {g.rstrip("?") for g in gaps}:
            custom = {"answer_type": "abstain", "sources": [], "question": question}
            return "I don't know.", {**custom, "confidence": 0.3}, []
        source = {"path": "returns.md", "title": "Returns", "url": "", "score": 0.8}
        custom = {"answer_type": "kb", "sources": [source], "question": question}
        return "Within 30 days.", {**custom, "confidence": 0.8}, [source]

    return answer


def count(db: Database, table: Any, *where: Any) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def test_a_month_of_demo_conversations(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    script = load_script()
    summary = DemoFiller(db, scripted_answerer(script), seed=3).fill(days=14, per_day=12)

    assert summary.conversations == count(db, Conversation) > 100
    assert count_conversations(db) == (summary.conversations, 0)
    with db.session() as session:
        convs = session.scalars(select(Conversation)).all()
        outcomes = {c.outcome for c in convs}
        starts = sorted(c.started_at for c in convs if c.started_at)
        handoffs = session.scalars(select(Handoff)).all()
    # Every conversation ended (the sweep ran after the month) and every outcome occurs.
    assert outcomes == {"resolved_by_bot", "resolved_by_human", "unresolved", "abandoned"}
    assert (starts[-1] - starts[0]).days >= 12
    assert all(c.sender_id.startswith(DEMO_PREFIX) for c in convs)
    assert all(c.first_bot_response_at and c.first_bot_response_at >= c.started_at for c in convs)
    # Handoffs went through the service: triggers, claims, agents' replies, resolutions.
    assert len(handoffs) == summary.handoffs
    assert {h.trigger for h in handoffs} >= {"explicit_request", "abstentions", "loop"}
    claimed = [h for h in handoffs if h.claimed_at]
    assert claimed and all(h.claimed_at >= h.queued_at for h in claimed)
    assert all(h.first_agent_reply_at and h.resolved_at for h in claimed)
    assert count(db, Message, Message.role == "agent") == 2 * len(claimed)
    # Questions and their answers were logged from the bot's messages.
    assert count(db, KnowledgeAnswer) == summary.questions
    assert count(db, KnowledgeAnswer, KnowledgeAnswer.answer_type == "abstain") > 0
    assert count(db, AnswerFeedback) == summary.feedback > 0
    # Nothing is left to deliver to Slack or to a customer.
    assert count(db, OutboxItem) == 0

    again = Database(f"sqlite:///{tmp_path / 'again.db'}")
    same = DemoFiller(again, scripted_answerer(script), seed=3).fill(days=14, per_day=12)
    assert (same.conversations, same.handoffs, same.questions) == (
        summary.conversations,
        summary.handoffs,
        summary.questions,
    )

    assert clear_demo(db) == summary.conversations
    for table in (Conversation, Handoff, Message, KnowledgeAnswer, AnswerFeedback):
        assert count(db, table) == 0
    db.dispose()
    again.dispose()


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PARLEY_STATE_DIR": str(tmp_path),
        "KNOWLEDGE_DIR": str(ROOT / "knowledge" / "articles"),
    }
    env.pop("HANDOFF_DB_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "handoff", "demo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_command_uses_the_real_answerer_and_keeps_real_data_apart(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "--days", "2", "--per-day", "15")
    assert done.returncode == 0, done.stderr
    assert "demo conversations" in done.stdout and "python -m handoff report" in done.stdout
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    # The sample articles answered some questions and not others, each citing its article.
    with db.session() as session:
        rows = session.scalars(select(KnowledgeAnswer)).all()
    assert {r.answer_type for r in rows} == {"kb", "suggest", "abstain"}
    assert all(
        r.article_path and r.article_path.endswith(".md") for r in rows if r.answer_type == "kb"
    )

    # A real conversation in the database: the filler refuses to mix demo data in.
    from handoff.service import HandoffService

    HandoffService(db).note_rasa_event({"sender_id": "real-1", "event": "user", "timestamp": 1.0})
    refused = run_cli(tmp_path, "--days", "1")
    assert refused.returncode == 2 and "real conversations" in refused.stderr
    cleared = run_cli(tmp_path, "--clear")
    assert cleared.returncode == 0 and "Removed" in cleared.stdout
    assert count_conversations(db) == (0, 1)
    db.dispose()
