"""With a database URL, the shared index's writer lease is a PostgreSQL advisory lock (real
server from scripts/servers.py): one writer, the others follow; whoever holds it is named; it
goes when its holder closes, exits or loses its connection, and a writer that lost it mid-run
stops before its switch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import psycopg
import pytest
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import DeterministicFakeEmbedding

from knowledge import indexer as indexer_module
from knowledge.indexer import IndexBusyError, Indexer, PostgresWriterLock
from knowledge.store import Manifest, SharedManifest
from scripts.servers import LocalServers
from tests.knowledge.conftest import article

pytestmark = pytest.mark.servers
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServers]:
    with LocalServers(tmp_path_factory.mktemp("servers"), redis=False) as started:
        yield started


@pytest.fixture
def database_url(servers: LocalServers) -> str:
    return servers.create_database()


def test_one_holder_at_a_time_named_and_released(database_url: str) -> None:
    first = PostgresWriterLock(database_url, "kb_dual.manifest")
    second = PostgresWriterLock(database_url, "kb_dual.manifest")
    other_index = PostgresWriterLock(database_url, "other_dual.manifest")
    try:
        assert first.take() and first.take()  # taking again keeps it (no second count)
        assert not second.take()
        assert other_index.take()  # another collection, another key
        assert "parley index writer" in second.holder()

        told: list[str] = []
        started = time.monotonic()
        assert not second.take(wait=0.5, notify=told.append)  # waits, then gives up
        assert 0.4 < time.monotonic() - started < 5
        assert len(told) == 1 and "busy" in told[0] and "parley index writer" in told[0]

        first.release()
        assert not first.held()
        assert second.take() and not first.take()
    finally:
        for lock in (first, second, other_index):
            lock.release()


def test_waiting_ends_as_soon_as_the_holder_lets_go(database_url: str) -> None:
    first = PostgresWriterLock(database_url, "kb.manifest")
    second = PostgresWriterLock(database_url, "kb.manifest")
    try:
        assert first.take()
        threading.Timer(0.5, first.release).start()
        started = time.monotonic()
        assert second.take(wait=10, notify=lambda _: None)
        assert time.monotonic() - started < 5
    finally:
        first.release()
        second.release()


def test_the_lock_goes_with_its_process_and_its_connection(database_url: str) -> None:
    code = textwrap.dedent(
        f"""
        import time
        from knowledge.indexer import PostgresWriterLock
        lock = PostgresWriterLock({database_url!r}, "kb.manifest")
        assert lock.take()
        print("held", flush=True)
        time.sleep(60)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
    mine = PostgresWriterLock(database_url, "kb.manifest")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        assert not mine.take()
        holder.kill()  # no clean-up at all: the server ends the session and its lock
        holder.wait()
        assert mine.take(wait=10)

        # The connection dies (killed by the server here): the lock is gone, and known gone.
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'parley index writer%%'"
            )
        assert not mine.held()
        assert mine.take()  # free: taken again on a new connection
    finally:
        holder.kill()
        mine.release()


# -- the indexer with a shared manifest ------------------------------------------------------


def replica(tmp_path: Path, folder: Path, i: int, database_url: str) -> Indexer:
    """A replica of one shared index (a Chroma client on one folder stands in for the
    Chroma server); its own local manifest and index folder."""
    client = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    store = Chroma(
        collection_name="kb_fake",
        embedding_function=DeterministicFakeEmbedding(size=8),
        client=client,
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    local = Manifest(tmp_path / f"replica-{i}" / "manifest.sqlite")
    manifest = SharedManifest(client, "kb_fake", local)
    manifest.bind_embedder("fake")
    return Indexer(folder, store, manifest, tmp_path / f"replica-{i}", database_url=database_url)


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    for name in ("returns", "shipping", "gift-cards"):
        (folder / f"{name}.md").write_text(
            article(f"About {name}", f"Everything about {name}. " * 20, f"https://h.example/{name}")
        )
    return folder


def test_replicas_elect_one_writer_with_the_database(
    tmp_path: Path, articles: Path, database_url: str
) -> None:
    writer = replica(tmp_path, articles, 0, database_url)
    reader = replica(tmp_path, articles, 1, database_url)
    try:
        first = writer.sync()
        assert not first.follower and len(first.indexed) == 3
        second = reader.sync()
        assert second.follower and second.generation == first.generation
        # The lease is the database's: no lease record in Chroma.
        assert writer.manifest.col.get(ids=["lease"])["ids"] == []  # type: ignore[attr-defined]

        writer.tidy()  # between runs the writer keeps it
        assert writer.writer and reader.sync().follower

        # The writer stops (or dies): the reader takes over at once, looking at every file.
        writer.close()
        (articles / "returns.md").write_text(article("About returns", "Thirty days. " * 20))
        took_over = reader.sync(only=[])
        assert not took_over.follower and took_over.indexed == ["returns.md"]
        assert took_over.generation == first.generation + 1
        assert writer.sync().follower  # the old writer now follows
    finally:
        writer.close()
        reader.close()


def test_a_writer_that_lost_the_lock_mid_run_stops_before_its_switch(
    tmp_path: Path, articles: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = replica(tmp_path, articles, 0, database_url)
    other = PostgresWriterLock(database_url, "kb_fake.manifest")
    try:
        generation = writer.sync().generation
        (articles / "shipping.md").write_text(article("About shipping", "Four days. " * 20))
        monkeypatch.setattr(indexer_module, "LEASE_RENEW_SECONDS", -1.0)  # check every batch
        real_add = writer.store.add_texts

        def add_then_lose_the_lock(*args, **kwargs):  # type: ignore[no-untyped-def]
            ids = real_add(*args, **kwargs)
            writer._pg_lock.release()  # type: ignore[union-attr]  # its connection drops
            assert other.take()  # and another replica takes over
            return ids

        monkeypatch.setattr(writer.store, "add_texts", add_then_lose_the_lock)
        with pytest.raises(IndexBusyError, match="lost the shared knowledge index's writer"):
            writer.sync(only=["shipping.md"])
        assert writer.manifest.generation() == generation  # nothing switched
        assert not writer.writer
    finally:
        other.release()
        writer.close()
