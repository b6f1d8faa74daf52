"""The OpenAI path against a local OpenAI-compatible server started by the test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from parley_shared.phrases import phrase

from knowledge.service import KnowledgeService
from tests.fake_openai import FakeOpenAI

UK_QUESTION = "How long does standard shipping to the UK take?"
UK_URL = "https://help.tidewell.example/shipping/times-and-costs"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.close()


@pytest.fixture
def llm_service(sample_service: KnowledgeService, fake_openai: FakeOpenAI):
    settings = replace(
        sample_service.settings,
        openai_api_key="sk-test",
        openai_base_url=fake_openai.url,
        openai_model="test-model",
        llm_timeout=1.0,
    )
    svc = KnowledgeService(settings)
    svc.sync()
    yield svc
    svc.stop()


def test_request_carries_the_passages_and_the_question_as_data(llm_service, fake_openai):
    answer = llm_service.answer(UK_QUESTION)

    [req] = fake_openai.requests
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "test-model"
    system, user = req["body"]["messages"]
    assert system["role"] == "system" and "only the numbered passages" in system["content"].lower()
    assert "[1] Shipping times and costs by region > United Kingdom" in user["content"]
    assert "3–6 business days and costs £7.50" in user["content"]
    assert f"<<<\n{UK_QUESTION}\n>>>" in user["content"]

    assert answer.generated_by == "llm" and answer.answer_type == "kb"
    assert answer.text.startswith("Standard delivery to the UK takes 3–6 business days [1].")
    assert UK_URL in answer.text
    assert [s["path"] for s in answer.sources] == ["shipping-times-and-costs.md"]


def test_citations_and_links_not_retrieved_are_dropped(llm_service, fake_openai):
    fake_openai.reply = (
        f"It takes 3–6 business days [1][42]. See https://evil.example/phish or {UK_URL}."
    )
    answer = llm_service.answer(UK_QUESTION)

    assert "[42]" not in answer.text and "evil.example" not in answer.text
    assert UK_URL in answer.text and "[1]" in answer.text
    assert [s["path"] for s in answer.sources] == ["shipping-times-and-costs.md"]


def test_an_answer_citing_nothing_retrieved_falls_back_to_extractive(llm_service, fake_openai):
    fake_openai.reply = "Delivery is instant everywhere [99]."
    answer = llm_service.answer(UK_QUESTION)

    assert answer.generated_by == "extractive"
    assert "instant" not in answer.text and "3–6 business days" in answer.text


def test_model_that_finds_no_answer_makes_the_bot_abstain(llm_service, fake_openai):
    fake_openai.reply = "NO_ANSWER"
    answer = llm_service.answer(UK_QUESTION)

    assert answer.answer_type == "abstain" and "person" in answer.text


def test_server_errors_fall_back_to_the_extractive_answer(llm_service, fake_openai):
    fake_openai.status = 500
    answer = llm_service.answer(UK_QUESTION)

    assert len(fake_openai.requests) == 1  # no retry storm
    assert answer.generated_by == "extractive" and answer.answer_type == "kb"
    assert "3–6 business days" in answer.text and UK_URL in answer.text


def test_timeouts_fall_back_to_the_extractive_answer(llm_service, fake_openai):
    fake_openai.delay = 5.0
    answer = llm_service.answer(UK_QUESTION)

    assert answer.generated_by == "extractive" and answer.answer_type == "kb"
    assert "3–6 business days" in answer.text


def test_the_model_is_told_to_answer_in_the_customers_language(llm_service, fake_openai):
    fake_openai.reply = "El envío estándar al Reino Unido tarda 3–6 días hábiles [1]."
    answer = llm_service.answer("¿Cuánto tarda el envío estándar al Reino Unido?", "es")

    [req] = fake_openai.requests
    user = req["body"]["messages"][1]["content"]
    assert user.rstrip().endswith(
        "Write the answer in Spanish, the customer's language, even where the passages are in "
        "another language."
    )
    assert answer.generated_by == "llm" and answer.language == "es"
    assert answer.text.startswith("El envío estándar")
    assert f"\n{phrase('source', 'es')}: " in answer.text  # the citation line in Spanish too
