"""The ledger keeps what the knowledge answerer did with each question, and the customers'
"did this help?" verdicts, from the same Rasa event stream as the outcome ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handoff.db import Database
from handoff.models import AnswerFeedback, KnowledgeAnswer
from handoff.service import HandoffError, HandoffService


def user(sender: str, text: str, ts: float) -> dict:
    return {"event": "user", "sender_id": sender, "text": text, "timestamp": ts}


def bot(sender: str, ts: float, custom: dict | None = None, text: str = "...") -> dict:
    data = {"custom": custom} if custom is not None else {}
    return {"event": "bot", "sender_id": sender, "text": text, "timestamp": ts, "data": data}


def answers(db: Database) -> list[KnowledgeAnswer]:
    with db.session() as session:
        return list(session.scalars(select(KnowledgeAnswer).order_by(KnowledgeAnswer.id)))


def test_answers_and_abstentions_are_logged_once(service: HandoffService, db: Database) -> None:
    kb = {
        "answer_type": "kb",
        "confidence": 0.71,
        "sources": [{"path": "warranty.md", "title": "Warranty", "url": "", "score": 0.71}],
    }
    answered = bot("c1", 1_700_000_000.5, kb)
    # The action names the question, as the answerer read it, in the event's metadata.
    answered["metadata"] = {"parley_question": "how long is the warranty"}
    events = [
        user("c1", "how long is the <b>warranty</b>", 1_700_000_000.0),
        answered,
        user("c1", "do you sell gift wrapping", 1_700_000_010.0),
        # An older answerer's payload without the question: the last customer line is used.
        bot("c1", 1_700_000_010.5, {"answer_type": "abstain", "sources": []}),
        bot("c1", 1_700_000_011.0, None, text="Hello!"),  # not an answer
    ]
    for event in events + events:  # a replayed stream is recorded once
        service.note_rasa_event(event)

    rows = answers(db)
    assert [(r.answer_type, r.question, r.article_path) for r in rows] == [
        ("kb", "how long is the warranty", "warranty.md"),
        ("abstain", "do you sell gift wrapping", None),
    ]
    assert rows[0].confidence == pytest.approx(0.71) and rows[1].confidence is None
    assert rows[0].created_at.timestamp() == pytest.approx(1_700_000_000.5, abs=1e-3)


def test_handoff_notices_are_not_answers(service: HandoffService, db: Database) -> None:
    notice = bot("c2", 1.0, {"answer_type": "kb", "sources": []})
    notice["metadata"] = {"parley_handoff": {"kind": "joined"}}
    service.note_rasa_event(notice)
    assert answers(db) == []


def test_feedback_is_stored_and_checked(service: HandoffService, db: Database) -> None:
    service.record_feedback(
        "c3", "no", "can I pay with bitcoin", "payment-methods.md", "abc123", "kb", 0.6
    )
    with pytest.raises(HandoffError, match="yes, no"):
        service.record_feedback("c3", "maybe")
    with pytest.raises(HandoffError, match="answer type"):
        service.record_feedback("c3", "yes", answer_type="guess")
    with db.session() as session:
        [row] = session.scalars(select(AnswerFeedback)).all()
    assert (row.verdict, row.article_path, row.article_version) == (
        "no",
        "payment-methods.md",
        "abc123",
    )


def test_feedback_over_the_internal_api(tmp_path) -> None:
    import httpx

    from tests.handoff.fake_rasa import FakeRasa
    from tests.handoff.slack_helpers import running, settings_for

    rasa = FakeRasa()
    settings = settings_for(tmp_path, None, rasa, HANDOFF_INTERNAL_TOKEN="s3cret")
    try:
        with running(settings) as server:
            url = f"http://127.0.0.1:{server.internal_port}/internal/feedback"
            body = {"sender_id": "c4", "verdict": "yes", "article_path": "returns.md"}
            assert httpx.post(url, json=body).status_code == 401
            auth = {"Authorization": "Bearer s3cret"}
            assert httpx.post(url, json=body, headers=auth).status_code == 200
            bad = httpx.post(url, json={**body, "verdict": "perhaps"}, headers=auth)
            assert bad.status_code == 409 and "yes, no" in bad.json()["error"]
            with server.db.session() as session:
                [row] = session.scalars(select(AnswerFeedback)).all()
            assert (row.sender_id, row.verdict, row.article_path) == ("c4", "yes", "returns.md")
    finally:
        rasa.stop()


def test_who_decided_and_the_grounding_verdict_are_logged(
    service: HandoffService, db: Database
) -> None:
    by_model = {"answer_type": "kb", "sources": [], "decided_by": "model", "grounding": "passed"}
    fell_back = {"answer_type": "suggest", "sources": [], "grounding": "failed"}
    fell_back["decided_by"] = "offline"
    old = {"answer_type": "abstain", "sources": []}  # before either was recorded
    for ts, custom in ((1.0, by_model), (2.0, fell_back), (3.0, old)):
        service.note_rasa_event(bot("c4", ts, custom))
    assert [(r.decided_by, r.grounding) for r in answers(db)] == [
        ("model", "passed"),
        ("offline", "failed"),
        (None, None),
    ]


def test_an_older_ledger_gets_the_new_columns(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the table as the previous version created it
        conn.execute(
            "CREATE TABLE knowledge_answers (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
            "question TEXT, answer_type VARCHAR(16), article_path VARCHAR(512), "
            "article_title VARCHAR(512), confidence FLOAT, created_at DATETIME, "
            "source_key VARCHAR(255), UNIQUE (source_key))"
        )
        conn.execute(
            "INSERT INTO knowledge_answers (sender_id, question, answer_type, created_at) "
            "VALUES ('c0', 'old question', 'abstain', '2026-01-01 00:00:00')"
        )
    db = Database(f"sqlite:///{path}")
    [row] = answers(db)
    assert (row.question, row.decided_by, row.grounding) == ("old question", None, None)
    Database(f"sqlite:///{path}")  # a second start finds nothing to add
