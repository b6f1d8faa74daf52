"""Where the index lives: a Chroma collection (vectors) plus a small SQLite manifest.

The manifest says which version of each article is live and which chunk ids belong to it.
Chunk ids are content-addressed, so a new version's chunks are written next to the old ones;
one SQLite transaction then switches the manifest, and only afterwards are the old chunks
deleted. Readers only trust chunks the manifest lists, so an interrupted or failed run never
replaces the last good index.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
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

    shared = False

    def take_writer_lease(self) -> bool:
        """Only a shared manifest has competing writers; a local index has one (the lock)."""
        return True

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


def _dummy_vectors(n: int) -> np.ndarray:
    """Manifest records are looked up, never searched: a constant one-number vector."""
    return np.ones((n, 1), dtype=np.float32)


def _entry_meta(e: FileEntry, gen: int) -> dict[str, str | int | float]:
    return {
        "kind": "file",
        "path": e.path,
        "version": e.version,
        "title": e.title,
        "url": e.url,
        "updated": e.updated,
        "chunk_ids": json.dumps(list(e.chunk_ids)),
        "added": gen,
        "removed": 0,
        "removed_at": 0.0,
    }


def _entry(meta: Any) -> FileEntry:
    return FileEntry(
        str(meta["path"]),
        str(meta["version"]),
        str(meta["title"]),
        str(meta["url"]),
        str(meta["updated"]),
        tuple(json.loads(str(meta["chunk_ids"]))),
        -1,  # when and how big the file was is known only to the replica that read it
        -1,
    )


class SharedManifest(Manifest):
    """The manifest kept on the Chroma server, for replicas that share one index there.

    One record per (article version, generation that added it), stamped with the generation
    that replaced it, plus a "head" record naming the live generation. A run writes its
    passages and entries first and moves the head last (one record write: the atomic switch);
    readers only trust entries added at or before the head and not removed by it, so they
    never see half a run, and they catch up by reading only the entries a newer generation
    touched. One replica writes at a time (a lease record on the server); the others follow.
    This replica's own file sizes and times stay in its local manifest.
    """

    shared = True
    LEASE_SECONDS = 60.0
    # Entries of replaced versions are kept this long so followers can catch up on them;
    # a follower that has not looked for longer than half of it reads everything again.
    KEEP_REMOVED_SECONDS = 300.0

    def __init__(self, client: chromadb.ClientAPI, name: str, local: Manifest) -> None:
        # A Manifest by interface only: nothing here lives in SQLite except via `local`.
        self.col = client.get_or_create_collection(
            f"{name}.manifest", embedding_function=None, configuration={"hnsw": {"space": "l2"}}
        )
        self.local = local
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._live: LiveSet | None = None
        self._files: dict[str, FileEntry] = {}
        self._entry_ids: dict[str, str] = {}
        self._looked = 0.0
        self._reading = threading.Lock()

    # -- the head and the lease -----------------------------------------------------------
    def _record(self, rid: str) -> dict[str, Any] | None:
        got = self.col.get(ids=[rid], include=["metadatas"])
        metas = got["metadatas"] or []
        return dict(metas[0]) if got["ids"] and metas and metas[0] else None

    def _put(self, rid: str, meta: dict[str, Any]) -> None:
        self.col.upsert(ids=[rid], embeddings=_dummy_vectors(1), metadatas=[meta])

    def generation(self) -> int:
        head = self._record("head")
        return int(head["generation"]) if head else 0

    def take_writer_lease(self) -> bool:
        """Become (or stay) the one writer. Best effort: Chroma has no compare-and-swap, so a
        takeover is read back after a pause and yields if another replica wrote last."""
        now = time.time()
        lease = self._record("lease")
        if lease and lease["owner"] != self.owner and float(lease["expires"]) > now:
            return False
        taking_over = not lease or lease["owner"] != self.owner
        self._put(
            "lease", {"kind": "lease", "owner": self.owner, "expires": now + self.LEASE_SECONDS}
        )
        if taking_over:
            time.sleep(0.2)
            lease = self._record("lease")
            return bool(lease and lease["owner"] == self.owner)
        return True

    def _put_head(self, gen: int) -> None:
        self._put("head", {**(self._record("head") or {"kind": "head"}), "generation": gen})

    def bind_embedder(self, name: str) -> None:
        head = self._record("head")
        if head is None:
            self._put("head", {"kind": "head", "generation": 0, "embedder": name})
        elif head.get("embedder") != name:
            raise ValueError(
                f"the shared index {self.col.name} was built by {head.get('embedder')}"
            )

    # -- local state (this replica's file stats, pending ids) --------------------------------
    def get_meta(self, key: str) -> str | None:
        return self.local.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.local.set_meta(key, value)

    # -- reading ----------------------------------------------------------------------------
    def _entries(self, where: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        got = self.col.get(where={"$and": [{"kind": "file"}, where]}, include=["metadatas"])
        return [(i, dict(m)) for i, m in zip(got["ids"], got["metadatas"] or [], strict=False) if m]

    @staticmethod
    def _serves(meta: dict[str, Any], gen: int) -> bool:
        removed = int(meta["removed"])
        return int(meta["added"]) <= gen and (removed == 0 or removed > gen)

    def live(self) -> tuple[dict[str, str], set[str]]:
        snap = self.live_set()
        return snap.versions, snap.ids

    def live_set(self) -> LiveSet:
        with self._reading:  # the watcher and the answering threads both ask
            return self._catch_up()

    def _catch_up(self) -> LiveSet:
        gen = self.generation()
        snap = self._live
        if snap is not None and snap.generation == gen:
            return snap
        fresh = time.monotonic() - self._looked < self.KEEP_REMOVED_SECONDS / 2
        if snap is None or snap.generation > gen or not fresh:
            where: dict[str, Any] = {"$or": [{"removed": 0}, {"removed": {"$gt": gen}}]}
            rows = [(i, m) for i, m in self._entries(where) if self._serves(m, gen)]
            self._install(gen, rows, {}, {})
        else:
            since = snap.generation
            where = {"$or": [{"added": {"$gt": since}}, {"removed": {"$gt": since}}]}
            rows = self._entries(where)
            files, ids = dict(self._files), dict(self._entry_ids)
            for rid, m in rows:  # replaced or deleted versions leave first
                if not self._serves(m, gen) and ids.get(str(m["path"])) == rid:
                    files.pop(str(m["path"]))
                    ids.pop(str(m["path"]))
            self._install(gen, [(i, m) for i, m in rows if self._serves(m, gen)], files, ids)
        self._looked = time.monotonic()
        assert self._live is not None
        return self._live

    def _install(
        self,
        gen: int,
        rows: list[tuple[str, dict[str, Any]]],
        files: dict[str, FileEntry],
        entry_ids: dict[str, str],
    ) -> None:
        for rid, m in rows:
            e = _entry(m)
            files[e.path] = e
            entry_ids[e.path] = rid
        chunks = {p: e.chunk_ids for p, e in files.items()}
        self._files, self._entry_ids = files, entry_ids
        self._live = LiveSet(
            gen,
            {p: e.version for p, e in files.items()},
            chunks,
            {cid for ids in chunks.values() for cid in ids},
        )

    def changes_since(self, generation: int) -> frozenset[str] | None:
        return None  # followers catch up from the server; readers re-read the live set

    def versions(self) -> dict[str, str]:
        return dict(self.live_set().versions)

    def _with_stats(self, shared: dict[str, FileEntry]) -> dict[str, FileEntry]:
        local = self.local.files_for(list(shared)) if shared else {}
        out = {}
        for p, e in shared.items():
            mine = local.get(p)
            if mine and mine.version == e.version:
                e = replace(e, mtime_ns=mine.mtime_ns, size=mine.size)
            out[p] = e
        return out

    def files(self) -> dict[str, FileEntry]:
        self.live_set()
        return self._with_stats(dict(self._files))

    def files_for(self, paths: list[str]) -> dict[str, FileEntry]:
        self.live_set()
        return self._with_stats({p: self._files[p] for p in paths if p in self._files})

    # -- writing ----------------------------------------------------------------------------
    def _recover(self, head: int) -> None:
        """Undo what a run that died before its switch left behind; forget old history."""
        where = {"$or": [{"added": {"$gt": head}}, {"removed": {"$gt": head}}]}
        for rid, m in self._entries(where):
            if int(m["added"]) > head:
                self.col.delete(ids=[rid])
            else:
                self._put(rid, {**m, "removed": 0, "removed_at": 0.0})
        old = time.time() - self.KEEP_REMOVED_SECONDS
        gone = self._entries({"$and": [{"removed": {"$gt": 0}}, {"removed_at": {"$lt": old}}]})
        if gone:
            self.col.delete(ids=[rid for rid, _ in gone])

    def commit(
        self, upserts: list[FileEntry], deletes: list[str], touch_only: list[FileEntry]
    ) -> int:
        head = self.generation()
        self._recover(head)
        self.live_set()
        gen = head
        if upserts or deletes:
            gen = head + 1
            now = time.time()
            paths = [e.path for e in upserts] + deletes
            replaced = [self._entry_ids[p] for p in paths if p in self._entry_ids]
            got = self.col.get(ids=replaced, include=["metadatas"]) if replaced else None
            if got and got["ids"]:
                metas: list[Any] = [
                    {**m, "removed": gen, "removed_at": now} for m in got["metadatas"] or []
                ]
                self.col.upsert(
                    ids=got["ids"], embeddings=_dummy_vectors(len(metas)), metadatas=metas
                )
            if upserts:
                self.col.upsert(
                    ids=[
                        f"{gen}:{hashlib.sha256(e.path.encode()).hexdigest()[:24]}" for e in upserts
                    ],
                    embeddings=_dummy_vectors(len(upserts)),
                    metadatas=[_entry_meta(e, gen) for e in upserts],
                )
            self._put_head(gen)  # the switch
        self.local.commit(upserts, deletes, touch_only)  # this replica's file stats
        return gen


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
) -> tuple[Chroma, Manifest | SharedManifest]:
    name = f"{settings.collection}_{embedder_name}"
    store = Chroma(
        collection_name=name,
        embedding_function=embeddings,
        client=client or make_client(settings),
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    local = Manifest(settings.index_dir / f"manifest-{name}.sqlite")
    manifest: Manifest | SharedManifest = local
    if settings.chroma_host:
        manifest = SharedManifest(store._client, name, local)
    manifest.bind_embedder(embedder_name)
    return store, manifest
