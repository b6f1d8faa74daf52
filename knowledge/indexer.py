"""Incremental, atomic indexing of the knowledge folder."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from langchain_chroma import Chroma
from tqdm import tqdm

from knowledge.articles import (
    ArticleError,
    is_article_path,
    list_article_files,
    parse_article,
)
from knowledge.chunking import Chunk, chunk_article
from knowledge.store import FileEntry, Manifest, SharedManifest

log = logging.getLogger(__name__)

BATCH = 64
LEASE_RENEW_SECONDS = 15.0  # well inside the shared index's 60 s writer lease
# With a shared index, replaced passages are deleted this many seconds after the switch, so
# that other replicas have moved on to the new generation before they disappear.
SHARED_DELETE_DELAY = 10.0


@dataclass
class IndexReport:
    scanned: int = 0
    unchanged: int = 0
    indexed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    embedded_chunks: int = 0
    errors: list[ArticleError] = field(default_factory=list)
    warnings: list[ArticleError] = field(default_factory=list)
    generation: int = 0
    follower: bool = False  # another replica writes the shared index; this one only reads

    @property
    def changed(self) -> bool:
        return bool(self.indexed or self.removed)


class IndexBusyError(RuntimeError):
    """Another process holds the index for longer than we are willing to wait."""


# How long indexing waits for another process's run before giving up with a message.
LOCK_WAIT_SECONDS = 120.0  # KNOWLEDGE_LOCK_WAIT_SECONDS (knowledge/settings.py)


def _holder(fh: IO[str]) -> str:
    fh.seek(0)
    return fh.read().strip() or "another process"


@contextlib.contextmanager
def index_lock(
    index_dir: Path, wait: float | None = None, notify: Callable[[str], None] | None = None
) -> Iterator[None]:
    """One writer at a time (bot process, CLI) per index folder.

    The lock file names its holder (process id, command, since when), so someone waiting is
    told who holds it, and gives up after `wait` seconds (KNOWLEDGE_LOCK_WAIT_SECONDS) with
    a message saying which process to stop, rather than waiting forever."""
    index_dir.mkdir(parents=True, exist_ok=True)
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    # "a+": opening must not erase the current holder's name.
    with open(index_dir / "index.lock", "a+", encoding="utf-8") as fh:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fh)
                if time.monotonic() >= deadline:
                    raise IndexBusyError(
                        f"The knowledge index in {index_dir} is held by {holder}, and it did "
                        f"not finish within {wait:.0f} s. If that process is stuck or left over "
                        "from an earlier run, stop it (kill PID) and try again."
                    ) from None
                if not told:
                    (notify or log.warning)(
                        f"The knowledge index is busy: {holder} holds it; waiting up to "
                        f"{wait:.0f} s."
                    )
                    told = True
                time.sleep(0.1)
        try:
            fh.seek(0)
            fh.truncate()
            command = " ".join(sys.argv)[:200] or "python"
            fh.write(f"process {os.getpid()} ({command}) since {time.strftime('%H:%M:%S')}")
            fh.flush()
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _advisory_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for `name` (the same in every replica)."""
    digest = hashlib.sha256(f"parley.knowledge.writer:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _libpq_url(url: str) -> str:
    """postgresql+psycopg://… (SQLAlchemy's spelling) as libpq reads it: postgresql://…"""
    scheme, sep, rest = url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


class PostgresWriterLock:
    """The shared index's writer lease as a PostgreSQL advisory lock (with a database URL).

    `pg_try_advisory_lock` on a connection of its own, held for as long as this replica is
    the writer: exact where the Chroma lease is best effort. It is released by `release()`,
    when the process exits, or when the connection dies; a writer that stops answering for
    IDLE_SECONDS (hung, cut off) loses it to the server's idle_session_timeout, as the Chroma
    lease expires. The key is derived from the shared collection's name.
    """

    # As long as the Chroma lease lasts; the writer checks every 15 s mid-run, every 5 s
    # between runs (knowledge/service.py's tidy).
    IDLE_SECONDS = int(SharedManifest.LEASE_SECONDS)

    def __init__(self, database_url: str, name: str) -> None:
        self.database_url = _libpq_url(database_url)
        self.name = name
        self.key = _advisory_key(name)
        self._conn: Any = None  # psycopg.Connection while held
        self._mutex = threading.Lock()  # the watcher thread and a CLI call may both ask

    def take(self, wait: float = 0.0, notify: Callable[[str], None] | None = None) -> bool:
        """Hold the lock (or check that it is still held): True if this process writes.
        With `wait` it keeps trying that many seconds, telling `notify` (or the log) once
        who holds it; False if another process still holds it then (or the database cannot
        be reached: then nobody can be sure, and following is the safe side)."""
        deadline = time.monotonic() + wait
        told = False
        while True:
            if self._try():
                return True
            if time.monotonic() >= deadline:
                return False
            if not told:
                (notify or log.warning)(
                    f"The knowledge index is busy: {self.holder()} writes it; waiting up to "
                    f"{wait:.0f} s."
                )
                told = True
            time.sleep(0.2)

    def held(self) -> bool:
        """Whether this process holds it now (its connection still answers)."""
        with self._mutex:
            return self._alive()

    def release(self) -> None:
        """Let another replica write (closing the connection ends the session's lock)."""
        with self._mutex:
            self._drop()

    def holder(self) -> str:
        """Who holds the lock, as its connection names itself; "another replica" if not known."""
        import psycopg

        try:
            with psycopg.connect(self.database_url, connect_timeout=5, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT a.application_name, a.client_addr::text, a.pid FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                    "AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
                    ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF),
                ).fetchone()
        except psycopg.Error:
            return "another replica"
        if not row:
            return "another replica"
        name, address, pid = row
        return f"{name or 'a connection'} (from {address or 'a local socket'}, server pid {pid})"

    def _alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")  # also resets the server's idle clock
            return True
        except Exception:
            self._drop()  # the session is gone, and the lock with it
            return False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _try(self) -> bool:
        import psycopg

        with self._mutex:
            if self._alive():
                return True
            me = f"parley index writer {socket.gethostname()}:{os.getpid()}"[:63]
            try:
                conn = psycopg.connect(
                    self.database_url,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=me,
                    # A dead peer is noticed within a minute or so, not after hours.
                    keepalives=1,
                    keepalives_idle=20,
                    keepalives_interval=10,
                    keepalives_count=3,
                )
            except psycopg.Error as error:
                log.warning("knowledge: cannot reach the database for the writer lock: %s", error)
                return False
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                got = bool(row and row[0])
                if got:
                    # PostgreSQL 14+: a writer that stops answering loses the lock.
                    with contextlib.suppress(psycopg.Error):
                        conn.execute(f"SET idle_session_timeout = '{self.IDLE_SECONDS}s'")
            except psycopg.Error as error:
                log.warning("knowledge: the writer lock failed: %s", error)
                got = False
            if got:
                self._conn = conn
            else:
                conn.close()
            return got


class Indexer:
    def __init__(
        self,
        folder: Path,
        store: Chroma,
        manifest: Manifest,
        index_dir: Path,
        database_url: str | None = None,
        lock_wait: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self.lock_wait = lock_wait
        self.folder = folder
        self.store = store
        self.manifest = manifest
        self.index_dir = index_dir
        self.writer = False
        # PARLEY_DATABASE_URL: with a shared index (Chroma server), the writer lease is a
        # PostgreSQL advisory lock instead of a lease record in Chroma. Read when first
        # needed, so it can also be set after construction.
        self.database_url = database_url
        self._pg_lock: PostgresWriterLock | None = None

    def writer_lock(self) -> PostgresWriterLock | None:
        """The PostgreSQL writer lock, when a shared index has a database URL."""
        if not (self.database_url and isinstance(self.manifest, SharedManifest)):
            return None
        if self._pg_lock is None or self._pg_lock.database_url != _libpq_url(self.database_url):
            if self._pg_lock is not None:
                self._pg_lock.release()
            self._pg_lock = PostgresWriterLock(self.database_url, self.manifest.col.name)
        return self._pg_lock

    def _take_writer_lease(self) -> bool:
        lock = self.writer_lock()
        return lock.take() if lock is not None else self.manifest.take_writer_lease()

    def _renew_writer_lease(self) -> None:
        """Mid-run: keep the lease. Having lost the PostgreSQL lock (its connection died and
        another replica took it), the run stops before its switch rather than write twice."""
        lock = self.writer_lock()
        if lock is None:
            self.manifest.take_writer_lease()
        elif not lock.take():
            self.writer = False
            raise IndexBusyError(
                "lost the shared knowledge index's writer lock (the database connection "
                f"dropped) and {lock.holder()} writes it now; this run stopped before its "
                "switch, so nothing half-done is served"
            )

    def close(self) -> None:
        """Give up the writer lock now (another replica takes over at its next look)."""
        if self._pg_lock is not None:
            self._pg_lock.release()
        self.writer = False

    def _cleanup_pending(self) -> None:
        """Remove chunks written by a run that died before switching the manifest."""
        raw = self.manifest.get_meta("pending")
        if not raw:
            return
        pending = set(json.loads(raw))
        orphans = sorted(pending - self.manifest.live_set().ids)
        if orphans:
            self.store.delete(ids=orphans)
        self.manifest.set_meta("pending", "")

    def sync(
        self, only: Iterable[str] | None = None, progress: bool = False, force: bool = False
    ) -> IndexReport:
        """Bring the index in line with the folder.

        `only`: relative paths known to have changed (from the watcher); None scans everything.
        A file that became unreadable keeps its last good version in the index (and is reported).
        """
        with index_lock(self.index_dir, self.lock_wait):
            return self._sync(only, progress, force)

    def tidy(self) -> None:
        """Between runs: keep the writer's lease and delete replaced passages that are due."""
        if not self.manifest.shared:
            return
        with index_lock(self.index_dir, self.lock_wait):
            if self.writer:
                self.writer = self._take_writer_lease()
            if self.writer:
                self._delete_due()

    def _delete_later(self, ids: list[str]) -> None:
        due = json.loads(self.manifest.get_meta("garbage") or "[]")
        due.append([time.time() + SHARED_DELETE_DELAY, ids])
        self.manifest.set_meta("garbage", json.dumps(due))

    def _delete_due(self) -> None:
        due = json.loads(self.manifest.get_meta("garbage") or "[]")
        now, keep = time.time(), []
        for when, ids in due:
            if when > now:
                keep.append([when, ids])
                continue
            live = self.manifest.live_set().ids  # a revert may have made some live again
            dead = [cid for cid in ids if cid not in live]
            if dead:
                self.store.delete(ids=dead)
        if keep != due:
            self.manifest.set_meta("garbage", json.dumps(keep))

    def _sync(self, only: Iterable[str] | None, progress: bool, force: bool) -> IndexReport:
        report = IndexReport()
        was_writer, self.writer = self.writer, self._take_writer_lease()
        if not self.writer:
            report.follower = True
            report.generation = self.manifest.generation()
            return report
        if self.manifest.shared:
            if not was_writer:
                only = None  # events seen while following were not indexed: look at everything
            self._delete_due()
        self._cleanup_pending()
        if only is None:
            known = self.manifest.files()
            on_disk = {
                p.relative_to(self.folder).as_posix(): p for p in list_article_files(self.folder)
            }
            candidates = sorted(on_disk)
            gone = [p for p in known if p not in on_disk]
        else:
            # The watcher's path: touch only these files and their manifest rows, so the
            # cost does not grow with the folder.
            wanted = sorted(set(only))
            known = self.manifest.files_for(wanted)
            candidates, gone = [], []
            for rel in wanted:
                if is_article_path(self.folder, rel):
                    candidates.append(rel)
                elif rel in known:
                    gone.append(rel)
            on_disk = {rel: self.folder / rel for rel in candidates}
        report.scanned = len(candidates)

        upserts: list[FileEntry] = []
        touch: list[FileEntry] = []
        new_chunks: list[Chunk] = []
        for rel in tqdm(candidates, desc="reading", unit="file", disable=not progress, leave=False):
            path = on_disk[rel]
            try:
                st = path.stat()
            except OSError:
                if rel in known:
                    gone.append(rel)
                continue
            old = known.get(rel)
            if not force and old and old.mtime_ns == st.st_mtime_ns and old.size == st.st_size:
                report.unchanged += 1
                continue
            try:
                data = path.read_bytes()
            except OSError as exc:
                report.errors.append(ArticleError(rel, 1, f"cannot read the file: {exc.strerror}"))
                continue
            article, problems = parse_article(rel, data)
            if article is None:
                report.errors.extend(problems)
                continue
            report.warnings.extend(problems)
            if article.draft:  # unreviewed (python -m knowledge gaps): never served
                if rel in known:
                    gone.append(rel)
                continue
            if not force and old and old.version == article.content_hash:
                touch.append(
                    FileEntry(
                        rel,
                        old.version,
                        old.title,
                        old.url,
                        old.updated,
                        old.chunk_ids,
                        st.st_mtime_ns,
                        st.st_size,
                    )
                )
                report.unchanged += 1
                continue
            chunks = chunk_article(article)
            new_chunks.extend(chunks)
            upserts.append(
                FileEntry(
                    rel,
                    article.content_hash,
                    article.title,
                    article.url,
                    article.updated,
                    tuple(c.id for c in chunks),
                    st.st_mtime_ns,
                    st.st_size,
                )
            )

        # Embed only chunks the store does not hold yet (ids are content-addressed).
        new_by_id = {c.id: c for c in new_chunks}
        existing: set[str] = set()
        ids = list(new_by_id)
        for s in range(0, len(ids), 500):
            existing.update(self.store.get(ids=ids[s : s + 500], include=[])["ids"])
        missing = [c for cid, c in new_by_id.items() if cid not in existing]
        if missing:
            self.manifest.set_meta("pending", json.dumps([c.id for c in missing]))
        bar = tqdm(total=len(missing), desc="embedding", unit="chunk", disable=not progress)
        renewed = time.monotonic()
        for s in range(0, len(missing), BATCH):
            if self.manifest.shared and time.monotonic() - renewed > LEASE_RENEW_SECONDS:
                # A long first index (the dual encoder embeds every passage twice) must not
                # outlast the writer lease and let a second replica start writing too.
                self._renew_writer_lease()
                renewed = time.monotonic()
            batch = missing[s : s + BATCH]
            self.store.add_texts(
                texts=[c.embed_text for c in batch],
                metadatas=[c.metadata() for c in batch],
                ids=[c.id for c in batch],
            )
            bar.update(len(batch))
        bar.close()
        report.embedded_chunks = len(missing)

        gone = sorted(set(gone))
        if self.writer_lock() is not None:
            self._renew_writer_lease()  # still the one writer, right before the switch
        report.generation = self.manifest.commit(upserts, gone, touch)  # the atomic switch
        self.manifest.set_meta("pending", "")
        report.indexed = [e.path for e in upserts]
        report.removed = gone

        # Old versions' chunks are garbage now; drop those no live article still uses.
        live_now = {cid for e in upserts for cid in e.chunk_ids}
        stale: set[str] = set()
        for rel in [e.path for e in upserts] + gone:
            if rel in known:
                stale.update(known[rel].chunk_ids)
        stale -= live_now
        if stale and self.manifest.shared:
            self._delete_later(sorted(stale))
        elif stale:
            self.store.delete(ids=sorted(stale))
        return report


def relative_to(folder: Path, changed: Iterable[str]) -> list[str]:
    out = []
    root = os.path.realpath(folder)
    for p in changed:
        real = os.path.realpath(p)
        if real.startswith(root + os.sep):
            out.append(Path(os.path.relpath(real, root)).as_posix())
    return out
