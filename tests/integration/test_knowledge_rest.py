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

    replies = stack.send(customer, "how long does delivery to the UK take?")

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
