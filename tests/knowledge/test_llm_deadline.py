"""The LLM deadline: OPENAI_TIMEOUT bounds the whole remote part of an answer (the query
embedding with OpenAI embeddings, then generation), and calls stuck past it never pile up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_openai import ChatOpenAI

from handoff.llm_summary import llm_summary
from knowledge.deadline import BoundedCalls, CallsBusy
from knowledge.service import MODEL_CALL_SLOTS, KnowledgeService
from tests.fake_openai import FakeOpenAI
from tests.knowledge.conftest import article

UK_QUESTION = "How long does standard shipping to the UK take?"


class StuckModel:
    """A chat model whose calls hang until released, as a model server that stops answering."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self._lock = threading.Lock()

    def invoke(self, messages: Any) -> AIMessage:
        with self._lock:
            self.calls += 1
        self.release.wait(30)
        return AIMessage("Standard delivery to the UK takes 3–6 business days [1].")


@pytest.fixture
def stuck() -> Iterator[StuckModel]:
    model = StuckModel()
    yield model
    model.release.set()


@pytest.fixture
def stuck_service(sample_service: KnowledgeService, stuck: StuckModel):
    settings = replace(sample_service.settings, openai_api_key="sk-test", llm_timeout=0.4)
    svc = KnowledgeService(settings, chat_model=stuck)
    svc.sync()
    yield svc
    stuck.release.set()
    svc.stop()


def test_the_deadline_is_openai_timeout(stuck_service: KnowledgeService) -> None:
    started = time.monotonic()
    answer = stuck_service.answer(UK_QUESTION)
    took = time.monotonic() - started
    assert answer.generated_by == "extractive" and "3–6 business days" in answer.text
    assert took < 0.4 + 1.5  # OPENAI_TIMEOUT=0.4 (and retrieval), not a fixed 3 seconds


def test_stuck_calls_do_not_build_a_backlog(
    stuck_service: KnowledgeService, stuck: StuckModel, caplog: pytest.LogCaptureFixture
) -> None:
    answers = [stuck_service.answer(UK_QUESTION) for _ in range(10)]
    assert all(a.generated_by == "extractive" for a in answers)
    # Once every slot holds a stuck call, questions are answered at once, without the model.
    busy = [r for r in caplog.records if "still running" in r.getMessage()]
    assert len(busy) == 10 - MODEL_CALL_SLOTS
    assert stuck.calls == MODEL_CALL_SLOTS

    stuck.release.set()
    time.sleep(0.3)
    assert stuck.calls == MODEL_CALL_SLOTS  # nothing queued runs later, for nobody
    assert stuck_service.answer(UK_QUESTION).generated_by == "llm"  # the slots are free again


def test_the_query_embedding_is_under_the_same_deadline(tmp_path: Path, make_service) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_text(
        article("Returns", "## Window\n\nYou can return items within 30 days of delivery.")
    )
    server = FakeOpenAI()
    server.reply = "You can return items within 30 days of delivery [1]."
    try:
        svc = make_service(
            kb,
            openai_embeddings=True,
            openai_api_key="sk-test",
            openai_base_url=server.url,
            openai_embedding_model="test-embed",
            min_score=0.3,
            llm_timeout=0.5,
        )
        svc.sync()
        assert svc.answer("can I return items?").answer_type == "kb"

        server.embedding_delay = 4.0  # the embedding endpoint stops answering in time
        started = time.monotonic()
        answer = svc.answer("can I return items?")
        took = time.monotonic() - started
        assert took < 0.5 + 2.0  # not the 4 s the endpoint takes
        assert answer.answer_type == "abstain" and "person" in answer.text
    finally:
        server.close()


def test_bounded_calls_refuse_instead_of_queueing() -> None:
    calls = BoundedCalls(slots=1, name="test")
    release = threading.Event()
    try:
        with pytest.raises(TimeoutError):
            calls.run(release.wait, 0.05, 5)
        with pytest.raises(CallsBusy):
            calls.run(lambda: "never run", 1.0)
        release.set()
        time.sleep(0.05)
        assert calls.run(lambda x: x * 2, 1.0, 21) == 42
        with pytest.raises(ZeroDivisionError):
            calls.run(lambda: 1 / 0, 1.0)
    finally:
        release.set()
        calls.shutdown()


def test_stuck_summaries_do_not_pile_up(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started: list[int] = []

    def stuck_invoke(*_: object, **__: object) -> AIMessage:
        started.append(1)
        release.wait(30)
        return AIMessage("late")

    monkeypatch.setattr(ChatOpenAI, "invoke", stuck_invoke)
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_TIMEOUT": "0.2"}
    transcript = [{"role": "customer", "text": "help"}]
    try:
        began = time.monotonic()
        assert [llm_summary(transcript, env) for _ in range(6)] == [None] * 6
        assert time.monotonic() - began < 6 * 0.2 + 1.0
        assert len(started) == 2  # the bounded slots; the rest never call the model
    finally:
        release.set()
    time.sleep(0.1)
    assert len(started) == 2
