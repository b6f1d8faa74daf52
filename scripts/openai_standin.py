"""A local OpenAI-compatible HTTP server: POST /v1/chat/completions and /v1/embeddings,
spoken to by the real `openai` client. Tests set its behaviour per test; the LLM bench
(bench/knowledge_llm.py) gives it a `respond` function that scripts each reply from the
request, so the whole answering path runs with no real model reachable."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


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


def rough_tokens(text: str) -> int:
    """A token count of the size real tokenizers give English (about 4 characters each)."""
    return max(1, len(text) // 4)


class FakeOpenAI:
    """Implements POST /v1/chat/completions and /v1/embeddings; behaviour set per test.

    `respond(body)`, when set, writes each chat reply from the request body (the scripted
    stand-in); otherwise every reply is `reply`."""

    def __init__(self, respond: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.respond = respond
        self.reply = "Standard delivery to the UK takes 3–6 business days [1]."
        self.status = 200
        self.delay = 0.0
        self.embedding_delay = 0.0  # only /v1/embeddings answers this much later
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
                if fake.embedding_delay and self.path.endswith("/embeddings"):
                    time.sleep(fake.embedding_delay)
                if fake.status != 200:
                    payload: dict[str, Any] = {"error": {"message": "boom", "type": "server_error"}}
                elif self.path.endswith("/embeddings"):
                    payload = embeddings_payload(body)
                else:
                    content = fake.respond(body) if fake.respond else fake.reply
                    prompt = sum(rough_tokens(str(m.get("content", ""))) for m in body["messages"])
                    completion = rough_tokens(content)
                    payload = {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt,
                            "completion_tokens": completion,
                            "total_tokens": prompt + completion,
                        },
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
