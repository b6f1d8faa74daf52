"""Where the index lives: a Chroma collection (vectors) plus a small SQLite manifest.

The manifest says which version of each article is live and which chunk ids belong to it.
Chunk ids are content-addressed, so a new version's chunks are written next to the old ones;
one SQLite transaction then switches the manifest, and only afterwards are the old chunks
deleted. Readers only trust chunks the manifest lists, so an interrupted or failed run never
replaces the last good index.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from knowledge.settings import KnowledgeSettings


@dataclass(frozen=True)
class FileEntry:
    path: str
    version: str
    title: str
    url: str
    updated: str
    chunk_ids: tuple[str, ...]
    mtime_ns: int
    size: int


@dataclass(frozen=True)
class LiveSet:
    """What one generation of the index serves. Never mutated: a commit builds a new one."""

    generation: int
    versions: dict[str, str]  # path -> live version
    chunks: dict[str, tuple[str, ...]]  # path -> its live chunk ids
    ids: set[str]  # every live chunk id


class Manifest:
    # Generations whose changed paths are remembered for readers that update incrementally.
    CHANGE_LOG = 256

    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db_path = db_path
        self._local = threading.local()
        self._live: LiveSet | None = None
        self._changes: deque[tuple[int, frozenset[str]]] = deque(maxlen=self.CHANGE_LOG)
        with self._conn() as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, version TEXT, "
                "title TEXT, url TEXT, updated TEXT, chunk_ids TEXT, "
                "mtime_ns INTEGER, size INTEGER)"
            )
            c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=30)
            self._local.conn = conn
        return conn

    def bind_embedder(self, name: str) -> None:
        """Record which embedder built this index; rows built by another one are dropped,
        so every article is embedded again rather than mixing vectors of two models."""
        recorded = self.get_meta("embedder")
        if recorded == name:
            return
        conn = self._conn()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            if recorded is not None:
                conn.execute("DELETE FROM files")
                gen = self.generation() + 1
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(gen),))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('embedder', ?)", (name,))
        self._live = None

    def generation(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def get_meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._conn() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def files(self) -> dict[str, FileEntry]:
        rows = self._conn().execute("SELECT * FROM files").fetchall()
        return {
            r[0]: FileEntry(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), r[6], r[7])
            for r in rows
        }

    def live(self) -> tuple[dict[str, str], set[str]]:
        """(path -> live version, ids of every live chunk) of the current generation.

        Served from memory: this process's own commits update it file by file, so the
        watcher's path does not grow with the folder. Only when another process (the CLI,
        a separate watcher) moved the generation is it read again from SQLite.
        """
        snap = self.live_set()
        return snap.versions, snap.ids

    def live_set(self) -> LiveSet:
        snap = self._live
        if snap is not None and snap.generation == self.generation():
            return snap
        return self._load_live()

    def _load_live(self) -> LiveSet:
        conn = self._conn()
        # One read transaction: the generation and the rows belong together.
        conn.execute("BEGIN")
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            rows = conn.execute("SELECT path, version, chunk_ids FROM files").fetchall()
        finally:
            conn.execute("COMMIT")
        chunks = {r[0]: tuple(json.loads(r[2])) for r in rows}
        snap = LiveSet(
            int(row[0]) if row else 0,
            {r[0]: r[1] for r in rows},
            chunks,
            {cid for ids in chunks.values() for cid in ids},
        )
        self._live = snap
        self._changes.clear()
        return snap

    def changes_since(self, generation: int) -> frozenset[str] | None:
        """Paths added, changed or removed after `generation`, or None if not known here
        (too old, or another process wrote): then re-read everything with live_set()."""
        snap = self._live
        if snap is None or snap.generation != self.generation():
            return None
        if generation == snap.generation:
            return frozenset()
        logged = [(gen, paths) for gen, paths in self._changes if gen > generation]
        if len(logged) != snap.generation - generation:
            return None
        return frozenset().union(*(paths for _, paths in logged))

    def files_for(self, paths: list[str]) -> dict[str, FileEntry]:
        """Rows for these paths only (the watcher's path: cost independent of folder size)."""
        out: dict[str, FileEntry] = {}
        conn = self._conn()
        for p in paths:
            r = conn.execute("SELECT * FROM files WHERE path=?", (p,)).fetchone()
            if r:
                out[r[0]] = FileEntry(
                    r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), r[6], r[7]
                )
        return out

    def versions(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT path, version FROM files").fetchall())

    def commit(
        self, upserts: list[FileEntry], deletes: list[str], touch_only: list[FileEntry]
    ) -> int:
        """Atomically apply one index run; returns the new generation."""
        conn = self._conn()
        with conn:
            conn.execute("BEGIN IMMEDIATE")  # the generation read below belongs to this write
            before = self.generation()
            for e in upserts + touch_only:
                conn.execute(
                    "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)",
                    (
                        e.path,
                        e.version,
                        e.title,
                        e.url,
                        e.updated,
                        json.dumps(list(e.chunk_ids)),
                        e.mtime_ns,
                        e.size,
                    ),
                )
            for p in deletes:
                conn.execute("DELETE FROM files WHERE path=?", (p,))
            gen = before + (1 if upserts or deletes else 0)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(gen),))
        if gen != before:
            self._apply(before, gen, upserts, deletes)
        return gen

    def _apply(self, before: int, gen: int, upserts: list[FileEntry], deletes: list[str]) -> None:
        """Move the in-memory live set on by this commit's files only."""
        snap = self._live
        if snap is None or snap.generation != before:
            self._live = None  # someone else wrote in between: read it all next time
            return
        versions, chunks = dict(snap.versions), dict(snap.chunks)
        # Chunk ids include the article's path, so no two paths share one.
        ids = set(snap.ids)
        for p in deletes:
            versions.pop(p, None)
            ids.difference_update(chunks.pop(p, ()))
        for e in upserts:
            ids.difference_update(chunks.get(e.path, ()))
            versions[e.path] = e.version
            chunks[e.path] = e.chunk_ids
            ids.update(e.chunk_ids)
        self._live = LiveSet(gen, versions, chunks, ids)
        self._changes.append((gen, frozenset([e.path for e in upserts] + deletes)))


def make_client(settings: KnowledgeSettings) -> chromadb.ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        return chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
    path = settings.index_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def open_vectorstore(
    settings: KnowledgeSettings,
    embeddings: Embeddings,
    embedder_name: str,
    client: chromadb.ClientAPI | None = None,
) -> tuple[Chroma, Manifest]:
    name = f"{settings.collection}_{embedder_name}"
    store = Chroma(
        collection_name=name,
        embedding_function=embeddings,
        client=client or make_client(settings),
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    manifest = Manifest(settings.index_dir / f"manifest-{name}.sqlite")
    manifest.bind_embedder(embedder_name)
    return store, manifest
