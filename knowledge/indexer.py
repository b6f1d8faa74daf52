"""Incremental, atomic indexing of the knowledge folder."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from langchain_chroma import Chroma
from tqdm import tqdm

from knowledge.articles import (
    ArticleError,
    is_article_path,
    list_article_files,
    parse_article,
)
from knowledge.chunking import Chunk, chunk_article
from knowledge.store import FileEntry, Manifest

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
LOCK_WAIT_SECONDS = float(os.environ.get("KNOWLEDGE_LOCK_WAIT_SECONDS") or 120)


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


class Indexer:
    def __init__(self, folder: Path, store: Chroma, manifest: Manifest, index_dir: Path) -> None:
        self.folder = folder
        self.store = store
        self.manifest = manifest
        self.index_dir = index_dir
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
        with index_lock(self.index_dir):
            return self._sync(only, progress, force)

    def tidy(self) -> None:
        """Between runs: keep the writer's lease and delete replaced passages that are due."""
        if not self.manifest.shared:
            return
        with index_lock(self.index_dir):
            if self.writer:
                self.writer = self.manifest.take_writer_lease()
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
        was_writer, self.writer = self.writer, self.manifest.take_writer_lease()
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
                self.manifest.take_writer_lease()
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
