"""Replicas sharing one index on a real Chroma server (`chroma run`, from the chromadb package).

One replica writes (it holds a lease on the server), the others only read; every replica
serves exactly the generation the server's manifest names, and follows edits by reading only
what changed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from knowledge import indexer as indexer_module
from knowledge.service import KnowledgeService
from scripts.ports import free_port
from tests.knowledge.conftest import SAMPLE_ARTICLES, settings_for
from tests.knowledge.test_hot_reload import wait_for

CHROMA = Path(sys.executable).with_name("chroma")
UK = "How long does standard shipping to the UK take?"
SHIPPING = "shipping-times-and-costs.md"


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if not CHROMA.exists():
        pytest.fail(f"{CHROMA} is missing: chromadb 1.x ships the server")
    root = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    with open(root / "server.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(root / "data"), "--host", "127.0.0.1"]
            + ["--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            chromadb.HttpClient(
                host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)
            ).heartbeat()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError((root / "server.log").read_text(errors="replace")) from None
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def replicas(tmp_path: Path, chroma_port: int) -> Iterator[tuple[Path, list[KnowledgeService]]]:
    folder = tmp_path / "articles"  # one folder, as on a shared volume
    shutil.copytree(SAMPLE_ARTICLES, folder)
    made = [
        KnowledgeService(
            settings_for(
                folder,
                tmp_path / f"replica-{i}",
                chroma_host="127.0.0.1",
                chroma_port=chroma_port,
                collection=f"kb{tmp_path.name[-12:].replace('_', '')}",
            )
        )
        for i in range(2)
    ]
    yield folder, made
    for svc in made:
        svc.stop()


def top(svc: KnowledgeService, question: str) -> tuple[str, str]:
    hits = svc.retriever.search(question)
    return (hits[0].path, hits[0].passages[0].text) if hits and hits[0].passages else ("", "")


def test_replicas_share_the_index_and_follow_an_edit(
    replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, (writer, reader) = replicas
    first = writer.sync()
    assert not first.follower and first.embedded_chunks > 0 and not first.errors
    assert len(first.indexed) == len(list(SAMPLE_ARTICLES.glob("*.md")))
    assert top(writer, UK)[0] == SHIPPING and "3–6 business days" in top(writer, UK)[1]
    # The records are on the server, not in the replica's folder.
    assert writer.store._collection.count() == len(writer.manifest.live_set().ids)
    assert not (writer.settings.index_dir / "chroma").exists()

    # The second replica serves the same index without embedding anything.
    second = reader.sync()
    assert second.follower and second.embedded_chunks == 0
    assert reader.manifest.generation() == first.generation
    assert top(reader, UK) == top(writer, UK)

    # An edit: written once by the writer, picked up by the reader.
    monkeypatch.setattr(indexer_module, "SHARED_DELETE_DELAY", 0.0)
    path = folder / SHIPPING
    path.write_text(path.read_text().replace("3–6 business days", "4–7 business days"))
    reader.start(watch=False)  # a read-only replica: follows the server's manifest by itself
    report = writer.sync(only=[SHIPPING])
    assert report.indexed == [SHIPPING] and report.embedded_chunks == 1
    assert wait_for(lambda: "4–7 business days" in top(reader, UK)[1])
    assert "4–7 business days" in top(writer, UK)[1]
    # The replaced passage stays on the server a little longer, for replicas mid-answer.
    live = writer.manifest.live_set().ids
    assert writer.store._collection.count() == len(live) + 1
    writer.indexer.tidy()
    assert writer.store._collection.count() == len(live)

    # A deletion leaves both replicas' answers.
    (folder / "gift-cards.md").unlink()
    assert writer.sync(only=["gift-cards.md"]).removed == ["gift-cards.md"]
    assert wait_for(lambda: "gift-cards.md" not in reader.manifest.live()[0])
    reader.retriever.refresh()
    for svc in (writer, reader):
        assert "gift-cards.md" not in {h.path for h in svc.retriever.search("gift card expiry")}
    assert reader.manifest.live() == writer.manifest.live()


def test_a_run_that_dies_is_never_served_and_another_replica_takes_over(
    replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, (writer, reader) = replicas
    writer.sync()
    reader.sync()
    generation = writer.manifest.generation()
    path = folder / SHIPPING
    path.write_text(path.read_text().replace("3–6 business days", "5–8 business days"))

    def die(*args: object, **kwargs: object) -> None:
        raise RuntimeError("connection lost")

    # The writer dies after its new entry is on the server but before the head moves.
    monkeypatch.setattr(writer.manifest, "_put_head", die)
    with pytest.raises(RuntimeError):
        writer.sync(only=[SHIPPING])
    monkeypatch.undo()
    assert reader.manifest.generation() == generation
    reader.retriever.refresh()
    assert "3–6 business days" in top(reader, UK)[1]
    # A replica that starts now reads the whole manifest: the dead run is not in it either.
    late = KnowledgeService(replace(reader.settings, state_dir=folder.parent / "late"))
    try:
        assert late.sync().follower
        assert "3–6 business days" in top(late, UK)[1]
        assert late.manifest.live() == reader.manifest.live()
    finally:
        late.stop()

    # Its lease runs out; the reader becomes the writer, looks at every file and finishes.
    writer.manifest._put("lease", {"kind": "lease", "owner": writer.manifest.owner, "expires": 0})
    report = reader.sync(only=[])
    assert not report.follower and report.indexed == [SHIPPING]
    assert report.generation == generation + 1
    assert "5–8 business days" in top(reader, UK)[1]
    assert writer.sync().follower  # the old writer now follows
    writer.retriever.refresh()
    assert "5–8 business days" in top(writer, UK)[1]
    assert reader.manifest.live() == writer.manifest.live()
