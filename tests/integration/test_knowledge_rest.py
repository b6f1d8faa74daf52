"""Knowledge answers through the real Rasa server and action server (REST channel)."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.stack import RunningStack

pytestmark = pytest.mark.stack

UK_URL = "https://help.tidewell.example/shipping/times-and-costs"


def test_sample_kb_question_gets_a_cited_answer_and_payload(stack: RunningStack) -> None:
    customer = f"kb-{uuid.uuid4().hex[:8]}"
    stack.send(customer, "hi")

    replies = stack.send(customer, "how long does standard shipping to the UK take?")

    # The REST channel delivers the text and the custom payload as two messages.
    [text] = [r["text"] for r in replies if "text" in r]
    [custom] = [r["custom"] for r in replies if "custom" in r]
    assert "3–6 business days" in text
    assert "Shipping times and costs by region" in text and UK_URL in text
    assert custom["answer_type"] == "kb"
    [source] = custom["sources"]
    assert source["path"] == "shipping-times-and-costs.md" and source["url"] == UK_URL
    assert 0 < source["score"] <= 1

    slots = stack.tracker(customer)["slots"]
    assert slots["kb_answer_type"] == "kb"
    assert slots["kb_sources"][0]["path"] == "shipping-times-and-costs.md"
    assert slots["kb_sources"][0]["used"] is True


# -- three bands and the customer's verdict, through real Rasa REST round trips ----------
WARRANTY = "How long is the warranty?"  # confidence ~0.65: the middle band (0.415-0.853)


def _feedback(stack: RunningStack, customer: str) -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from handoff.db import Database
    from handoff.models import AnswerFeedback

    db = Database(f"sqlite:///{stack.state_dir / 'handoff.db'}")
    try:
        with db.session() as s:
            rows = s.scalars(select(AnswerFeedback).where(AnswerFeedback.sender_id == customer))
            return [(r.answer_type, r.verdict, r.article_path) for r in rows]
    finally:
        db.dispose()


def test_an_answer_carries_feedback_buttons_and_a_yes_is_stored(stack: RunningStack) -> None:
    customer = f"kb-{uuid.uuid4().hex[:8]}"
    stack.send(customer, "hi")  # the AI disclosure comes first
    replies = stack.send(customer, "how long does standard shipping to the UK take?")
    [answer] = [r for r in replies if "text" in r]
    assert [b["payload"] for b in answer["buttons"]] == ["/affirm", "/deny"]

    # A button sends its payload with the label it showed (as the widget does).
    replies = stack.send(customer, "/affirm", {"shown_as": "That helped"})
    [reply] = [r["text"] for r in replies if "text" in r]

    assert reply.startswith("Glad I could help")
    assert _feedback(stack, customer) == [("kb", "yes", "shipping-times-and-costs.md")]


def test_a_middle_confidence_question_gets_a_suggestion_with_yes_no(stack: RunningStack) -> None:
    customer = f"kb-{uuid.uuid4().hex[:8]}"
    stack.send(customer, "hi")  # the AI disclosure comes first
    replies = stack.send(customer, WARRANTY)

    [custom] = [r["custom"] for r in replies if "custom" in r]
    [suggestion] = [r for r in replies if "text" in r]
    assert custom["answer_type"] == "suggest"
    assert custom["sources"][0]["path"] == "warranty.md"
    assert suggestion["text"].startswith("I'm not sure, but this article may answer it: ")
    assert suggestion["text"].endswith("Did that answer your question?")
    assert [b["title"] for b in suggestion["buttons"]] == ["Yes", "No, talk to a person"]
    assert stack.tracker(customer)["slots"]["kb_answer_type"] == "suggest"


def test_no_to_a_suggestion_brings_in_a_person_at_once(stack: RunningStack) -> None:
    customer = f"kb-{uuid.uuid4().hex[:8]}"
    stack.send(customer, "hi")  # the AI disclosure comes first
    stack.send(customer, WARRANTY)

    replies = stack.send(customer, "/deny", {"shown_as": "No, talk to a person"})
    [reply] = [r["text"] for r in replies if "text" in r]

    assert "person" in reply
    tracker = stack.tracker(customer)
    assert tracker["paused"] is True
    assert _feedback(stack, customer) == [("suggest", "no", "warranty.md")]


def test_no_to_an_answer_offers_a_person_and_yes_brings_one(stack: RunningStack) -> None:
    customer = f"kb-{uuid.uuid4().hex[:8]}"
    stack.send(customer, "hi")  # the AI disclosure comes first
    stack.send(customer, "how long does standard shipping to the UK take?")

    [offer] = [r for r in stack.send(customer, "no, that doesn't help") if "text" in r]
    assert "connect you with a person" in offer["text"]
    assert stack.tracker(customer)["paused"] is False

    stack.send(customer, "yes")

    assert stack.tracker(customer)["paused"] is True
    assert _feedback(stack, customer) == [("kb", "no", "shipping-times-and-costs.md")]
