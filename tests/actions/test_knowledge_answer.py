from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from parley_shared.phrases import phrase
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.knowledge_answer as kb_action
from actions.knowledge_answer import ActionAnswerFromKnowledge
from knowledge.answer import ABSTAIN_TEXT, Answer
from tests.conftest import load_json
from tests.knowledge.conftest import sample_service  # noqa: F401  (fixture)

UK_URL = "https://help.tidewell.example/shipping/times-and-costs"


@pytest.fixture
def answerer(sample_service) -> Iterator[Any]:  # noqa: F811
    kb_action.set_service(sample_service)
    yield sample_service
    kb_action.set_service(None)


async def run(snapshot: str, domain: dict[str, Any]) -> tuple[CollectingDispatcher, list]:
    tracker = Tracker.from_dict(load_json(snapshot))
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerFromKnowledge().run(dispatcher, tracker, domain)
    return dispatcher, events


def slots(events: list) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_answer_quotes_the_article_and_cites_it(answerer, domain) -> None:
    dispatcher, events = await run("kb_tracker_shipping_question.json", domain)

    [message] = dispatcher.messages
    assert "3–6 business days" in message["text"]
    assert "Shipping times and costs by region" in message["text"] and UK_URL in message["text"]
    custom = message["custom"]
    assert custom["answer_type"] == "kb"
    [source] = custom["sources"]
    assert set(source) == {"path", "title", "url", "score"}
    assert source["path"] == "shipping-times-and-costs.md" and source["url"] == UK_URL
    assert 0 < source["score"] <= 1
    values = slots(events)
    assert values["kb_answer_type"] == "kb"
    [used] = values["kb_sources"]
    assert used["path"] == "shipping-times-and-costs.md" and used["used"] is True
    assert len(used["version"]) == 16


async def test_a_german_customer_is_answered_in_german(answerer, domain) -> None:
    dispatcher, events = await run("kb_tracker_german_question.json", domain)

    [message] = dispatcher.messages
    # The Spanish translation is no help to a German customer: the English original is quoted,
    # introduced in German, the citation and the buttons are German too.
    lines = message["text"].splitlines()
    assert phrase("english_passage", "de") in lines[:2]  # after the suggestion's intro, if any
    assert "3–6 business days" in message["text"]
    assert f"{phrase('source', 'de')}: Shipping times and costs by region" in message["text"]
    assert message["custom"]["sources"][0]["path"] == "shipping-times-and-costs.md"
    titles = [b["title"] for b in message["buttons"]]
    assert titles and set(titles) <= {
        phrase(k, "de")
        for k in ("button_helped", "button_not_helped", "button_yes", "button_no_person")
    }
    assert slots(events)["kb_answer_type"] in ("kb", "suggest")


async def test_unknown_question_abstains_and_offers_a_person(answerer, domain) -> None:
    dispatcher, events = await run("kb_tracker_unknown_question.json", domain)

    [message] = dispatcher.messages
    assert message["text"] == ABSTAIN_TEXT
    assert "don't know" in message["text"] and "person" in message["text"]
    custom = message["custom"]
    assert custom["answer_type"] == "abstain" and custom["sources"] == []
    # The best candidate's score travels with the answer, and the question (as the answerer
    # read it) in the bot event's metadata, which the browser never gets: the handoff
    # service's ledger records what the bot could not answer.
    assert "question" not in custom and isinstance(custom["confidence"], float)
    # The top candidate's confidence (runners-up carry their retrieval score).
    assert custom["confidence"] == slots(events)["kb_sources"][0]["score"]
    assert message["parley_question"] == "Can you recommend a good recipe for lasagna?"
    values = slots(events)
    assert values["kb_answer_type"] == "abstain"
    # The handoff still learns which articles were tried.
    assert values["kb_sources"] and all(s["used"] is False for s in values["kb_sources"])


async def test_html_and_injection_in_the_question_are_treated_as_data(answerer, domain) -> None:
    dispatcher, _ = await run("kb_tracker_html_injection.json", domain)

    [message] = dispatcher.messages
    assert "<" not in message["text"] and "alert" not in message["text"]
    assert "system prompt" not in message["text"].lower()
    assert message["custom"]["answer_type"] in {"kb", "suggest", "abstain"}
    if message["custom"]["answer_type"] != "abstain":
        assert UK_URL in message["text"]


async def test_a_huge_message_is_answered_not_crashed_on(answerer, domain) -> None:
    dispatcher, events = await run("kb_tracker_huge_message.json", domain)

    [message] = dispatcher.messages
    assert message["custom"]["answer_type"] in {"kb", "suggest", "abstain"}
    assert len(message["text"]) < 2000
    assert slots(events)["kb_answer_type"] == message["custom"]["answer_type"]


async def test_a_broken_answerer_never_reaches_the_customer(domain) -> None:
    class Broken:
        def answer(self, question: str, language: str | None = None):
            raise RuntimeError("index unreadable")

    kb_action.set_service(Broken())
    try:
        dispatcher, events = await run("kb_tracker_shipping_question.json", domain)
    finally:
        kb_action.set_service(None)
    [message] = dispatcher.messages
    assert message["text"] == ABSTAIN_TEXT
    assert message["custom"]["answer_type"] == "abstain"
    assert slots(events) == {"kb_answer_type": "abstain", "kb_sources": []}


def test_questions_are_answered_on_one_blas_thread() -> None:
    setter = kb_action._blas_threads
    if setter is None:
        pytest.skip("this numpy build has no per-thread OpenBLAS setting")
    seen: list[int] = []

    class Probe:
        def answer(self, question: str, language: str | None = None) -> Answer:
            seen.append(setter(1))  # returns the count this thread had
            return Answer("abstain", ABSTAIN_TEXT)

    def in_fresh_thread() -> None:
        seen.append(setter(2))
        kb_action.answer_question(Probe(), "hi")

    worker = threading.Thread(target=in_fresh_thread)
    worker.start()
    worker.join()
    assert seen[1] == 1
