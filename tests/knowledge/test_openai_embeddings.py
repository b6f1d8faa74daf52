"""KNOWLEDGE_EMBEDDINGS=openai: the index is built and searched through an OpenAI-compatible
/v1/embeddings endpoint (a local server started by the test), and switching embedder
re-embeds everything instead of mixing two models' vectors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.articles import load_folder
from knowledge.chunking import chunk_article
from knowledge.store import FileEntry, Manifest
from tests.fake_openai import FakeOpenAI
from tests.knowledge.conftest import article


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_text(
        article("Returns", "## Window\n\nYou can return items within 30 days of delivery.")
    )
    (kb / "warranty.md").write_text(
        article("Warranty", "## Length\n\nElectronics have a 2-year warranty from delivery.")
    )
    return kb


def embedded_texts(server: FakeOpenAI) -> list[str]:
    out: list[str] = []
    for req in server.requests:
        if req["path"] == "/v1/embeddings":
            assert req["auth"] == "Bearer sk-test" and req["body"]["model"] == "test-embed"
            out += req["body"]["input"]
    return out


def openai_settings(server: FakeOpenAI) -> dict[str, object]:
    return {
        "openai_embeddings": True,
        "openai_api_key": "sk-test",
        "openai_base_url": server.url,
        "openai_embedding_model": "test-embed",
        # The fake model's similarities are on their own scale (a real one is calibrated
        # with KNOWLEDGE_MIN_SCORE); this test is about where the vectors come from.
        "min_score": 0.3,
    }


def test_index_and_questions_use_the_configured_endpoint(folder: Path, make_service, server):
    svc = make_service(folder, **openai_settings(server))
    report = svc.sync()
    chunks = [c for a in load_folder(folder).articles for c in chunk_article(a)]
    assert report.embedded_chunks == len(chunks) == 4
    assert sorted(embedded_texts(server)) == sorted(c.embed_text for c in chunks)
    assert svc.manifest.get_meta("embedder") == "openai-test-embed"
    assert len(svc.store.get(include=["embeddings"])["embeddings"][0]) == 64  # its vectors

    server.requests.clear()
    server.reply = "Electronics have a 2-year warranty [1]."  # the chat model is on too
    answer = svc.answer("how long is the warranty on electronics?")
    assert embedded_texts(server) == ["how long is the warranty on electronics?"]
    assert answer.answer_type == "kb" and answer.sources[0]["path"] == "warranty.md"
    assert "2-year warranty" in answer.text

    # An edit is embedded through the endpoint too, and only the changed passage.
    server.requests.clear()
    (folder / "warranty.md").write_text(
        article("Warranty", "## Length\n\nElectronics have a 3-year warranty from delivery.")
    )
    report = svc.sync(only=["warranty.md"])
    assert report.embedded_chunks == 1
    assert ["3-year warranty" in t for t in embedded_texts(server)] == [True]
    hits = svc.retriever.search("how long is the warranty on electronics?")
    assert hits[0].path == "warranty.md" and "3-year" in hits[0].passages[0].text


def test_switching_embedder_re_embeds_every_article(folder: Path, make_service, server):
    local = make_service(folder)
    assert local.sync().embedded_chunks == 4
    assert server.requests == []

    remote = make_service(folder, **openai_settings(server))
    report = remote.sync()
    assert sorted(report.indexed) == ["returns.md", "warranty.md"]
    assert report.embedded_chunks == 4 and len(embedded_texts(server)) == 4
    assert remote.retriever.search("return window")[0].path == "returns.md"

    # Back to the local encoder: its own index is still whole and nothing is re-embedded.
    again = make_service(folder)
    assert again.sync().embedded_chunks == 0
    assert again.retriever.search("return window")[0].path == "returns.md"


def test_a_manifest_built_by_another_embedder_is_not_reused(tmp_path: Path) -> None:
    db = tmp_path / "manifest.sqlite"
    m = Manifest(db)
    m.bind_embedder("minilm")
    m.commit([FileEntry("a.md", "v1", "A", "", "", ("a1",), 1, 1)], [], [])
    m.bind_embedder("minilm")
    assert m.live() == ({"a.md": "v1"}, {"a1"})
    m.bind_embedder("openai-text-embedding-3-small")
    assert m.live() == ({}, set()) and m.get_meta("embedder") == "openai-text-embedding-3-small"
