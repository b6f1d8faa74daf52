"""The OpenAI path against a local OpenAI-compatible server started by the test."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from knowledge.service import KnowledgeService

UK_QUESTION = "How long does delivery to the UK take?"
UK_URL = "https://help.tidewell.example/shipping/times-and-costs"


def fake_embedding(text: str, dims: int = 64) -> list[float]:
    """Hashed bag of words: texts that share words are close, as with a real model."""
    v = np.zeros(dims, dtype=np.float32)
    for word in text.lower().split():
        word = word.strip(".,:;?!()[]")
        if word:
            v[int(hashlib.sha256(word.encode()).hexdigest()[:8], 16) % dims] += 1.0
    v[0] += 1e-3  # never the zero vector
    return (v / np.linalg.norm(v)).tolist()


def embeddings_payload(body: dict[str, Any]) -> dict[str, Any]:
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = []
    for i, text in enumerate(texts):
        vec = fake_embedding(str(text))
        if body.get("encoding_format") == "base64":  # what the openai client asks for
            item: Any = base64.b64encode(np.asarray(vec, dtype=np.float32).tobytes()).decode()
        else:
            item = vec
        data.append({"object": "embedding", "index": i, "embedding": item})
    usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
    return {"object": "list", "data": data, "model": body["model"], "usage": usage}


class FakeOpenAI:
    """Implements POST /v1/chat/completions and /v1/embeddings; behaviour set per test."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply = "Standard delivery to the UK takes 3–6 business days [1]."
        self.status = 200
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.status != 200:
                    payload = {"error": {"message": "boom", "type": "server_error"}}
                elif self.path.endswith("/embeddings"):
                    payload = embeddings_payload(body)
                else:
                    payload = {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": fake.reply},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                data = json.dumps(payload).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
