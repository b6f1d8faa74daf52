"""Article-level retrieval over the vector store, with a lexical cross-check.

Each article has a "title" vector (title + tags) and passage vectors. Its dense score is
    dense = title_weight * sim(question, title) + (1 - title_weight) * max sim(question, passage)
which beat plain passage or whole-article vectors on StackFAQ (see bench/results/). Dense
similarity alone cannot tell "how long is the warranty?" from "what is the bluetooth range?":
both are close to an earbuds article. So the score also asks whether the passage to be quoted
contains the question's topic words:
    coverage = share of the question's topic words (weighted by rarity in the knowledge base)
               found in the passage, its heading, or its article's title and tags
    score    = (1 - lexical_weight) * dense + lexical_weight * coverage
The weights are chosen on the calibration split of the answer-quality set
(bench/knowledge_answer_quality.py); the abstention threshold applies to this score.

Title vectors, tags and every passage's words are kept in memory, so a search makes at most
one vector-store query (the passages). When the manifest moves on, only the changed files'
records are read and a new catalogue is swapped in; a search keeps the one it started with.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from knowledge.store import LiveSet, Manifest
from knowledge.text import terms

# Share of the article score that comes from the lexical coverage of the quoted passage.
LEXICAL_WEIGHT = 0.3
# Choosing the passage to quote: dense similarity plus this weight times its coverage.
PASSAGE_LEXICAL_WEIGHT = 0.2
_FETCH = 500  # ids per vector-store read when the in-memory catalogue catches up
# Up to this many records (about 3,000 articles) passage vectors are searched in memory:
# about 1.5 kB each, and a matrix product is ~100x faster than a vector-store query.
MEMORY_LIMIT = 20_000


@dataclass
class Passage:
    id: str
    text: str
    heading: str
    similarity: float
    rank_score: float = 0.0
    coverage: float = 0.0


@dataclass
class ArticleHit:
    path: str
    title: str
    url: str
    version: str
    score: float
    title_similarity: float
    passage_similarity: float
    passages: list[Passage] = field(default_factory=list)
    dense_score: float = 0.0
    coverage: float = 0.0
    # Set for the article an answer is built from (knowledge/evidence.py); else the score.
    confidence: float | None = None
    language: str = "en"
    group: str = ""  # translations of one article share it (knowledge/articles.py)

    @property
    def answer_score(self) -> float:
        return self.score if self.confidence is None else self.confidence

    def source(self) -> dict[str, object]:
        return {
            "path": self.path,
            "title": self.title,
            "url": self.url,
            "score": round(self.answer_score, 4),
            "version": self.version,
        }


# Replaced records (old versions) kept before a refresh compacts the catalogue: more than half
# the live ones plus this many. Rebuilding then costs O(n) once per O(n) changed records.
COMPACT_SLACK = 1_000
# Word-count changes a catalogue carries on top of the shared counts before they are merged.
DF_MERGE = 2_000


@dataclass(frozen=True)
class _Title:
    path: str
    title: str
    url: str
    words: frozenset[str]
    language: str = "en"
    group: str = ""


@dataclass(frozen=True)
class _Chunk:
    path: str
    heading: str
    text: str
    words: frozenset[str]


_Record = _Title | _Chunk


class _Rows:
    """Unit vectors by record id, in a matrix that is only appended to.

    A catalogue reads rows [0, n) as they were when it was made. Later rows are written past
    its end, and a full buffer is copied into a larger one that only newer catalogues use,
    so a row a reader can see never changes; growth is amortised O(1) per row.
    """

    def __init__(self) -> None:
        self.ids: list[str] = []  # row -> record id
        self.row: dict[str, int] = {}
        self.buf = np.zeros((0, 1), dtype=np.float32)

    def add(self, cid: str, vec: np.ndarray) -> None:
        n = len(self.ids)
        if n == len(self.buf):
            grown = np.zeros((max(64, 2 * n), len(vec)), dtype=np.float32)
            grown[:n] = self.buf[:n]
            self.buf = grown
        self.buf[n] = vec
        self.row[cid] = n
        self.ids.append(cid)

    def vector(self, cid: str) -> np.ndarray | None:
        row = self.row.get(cid)
        return None if row is None else self.buf[row]

    def matrix(self) -> np.ndarray:
        return self.buf[: len(self.ids)]


class _Memory:
    """Records and vectors by id, shared by successive catalogues.

    Ids are content-addressed, so an entry never changes: entries are only added, and those
    of replaced versions are dropped by building a new memory (compaction), never deleted
    from one a reader may still use.
    """

    def __init__(self, keep: bool, parts: tuple[int, ...] | None = None) -> None:
        self.keep = keep  # passage vectors too (the index is small enough)
        self.parts = parts  # vectors made of several encoders' (knowledge/embeddings.py)
        self.records: dict[str, _Record] = {}
        self.titles = _Rows()
        self.passages: _Rows | None = _Rows() if keep else None

    def vector(self, cid: str) -> np.ndarray | None:
        rows = self.titles if isinstance(self.records.get(cid), _Title) else self.passages
        return rows.vector(cid) if rows is not None else None

    def load(self, store: Chroma, ids: list[str], source: _Memory | None) -> None:
        """Make these records known: copied from `source` when it has them, else fetched."""
        fetch = []
        for cid in ids:
            if cid in self.records:
                continue
            rec = source.records.get(cid) if source else None
            vec = source.vector(cid) if source and rec else None
            if rec is None or (vec is None and (self.keep or isinstance(rec, _Title))):
                fetch.append(cid)
            else:
                self._put(cid, rec, vec)
        for start in range(0, len(fetch), _FETCH):
            got = store.get(
                ids=fetch[start : start + _FETCH],
                include=["documents", "metadatas", "embeddings"],
            )
            for cid, doc, meta, emb in zip(
                got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=False
            ):
                v = np.asarray(emb, dtype=np.float32)
                self._put(cid, _record(meta or {}, doc or ""), unit(v, self.parts))

    def _put(self, cid: str, rec: _Record, vec: np.ndarray | None) -> None:
        if isinstance(rec, _Title):
            assert vec is not None
            self.titles.add(cid, vec)
        elif self.passages is not None:
            assert vec is not None
            self.passages.add(cid, vec)
        self.records[cid] = rec  # last: a known record always has its vector


def _record(meta: Mapping[str, Any], doc: str) -> _Record:
    path, heading, body = str(meta["path"]), str(meta.get("heading", "")), _body(doc)
    language = str(meta.get("language") or "en")
    words = terms(f"{heading} {body}", language)
    if meta.get("kind") == "title":
        group = str(meta.get("group") or path)
        return _Title(path, str(meta["title"]), str(meta["url"]), words, language, group)
    return _Chunk(path, heading, body, words)


class _Counts:
    """In how many live records each word occurs: counts shared between catalogues plus this
    catalogue's changes, merged into new shared counts once the changes grow."""

    def __init__(self, base: dict[str, int], delta: dict[str, int]) -> None:
        self.base, self.delta = base, delta

    def get(self, word: str, default: int = 0) -> int:
        return self.base.get(word, 0) + self.delta.get(word, 0) or default

    def __getitem__(self, word: str) -> int:
        return self.get(word)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.get(word) > 0

    def moved(self, gone: list[frozenset[str]], added: list[frozenset[str]]) -> _Counts:
        delta = dict(self.delta)
        for words, step in [(w, -1) for w in gone] + [(w, 1) for w in added]:
            for word in words:
                delta[word] = delta.get(word, 0) + step
        for word in {w for words in gone + added for w in words}:
            if delta[word] == 0:
                del delta[word]
        if len(delta) <= DF_MERGE:
            return _Counts(self.base, delta)
        base = dict(self.base)
        for word, step in delta.items():
            base[word] = base.get(word, 0) + step
            if base[word] == 0:
                del base[word]
        return _Counts(base, {})


_NOTHING = LiveSet(-1, {}, {}, set())


class _Catalogue:
    """What one generation of the index serves, in memory; never changed once made.

    Title vectors (and passage vectors while the index has at most `limit` records) are rows
    of matrices shared with the catalogues before and after it; rows of versions this one does
    not serve are skipped by id. The next catalogue is made from the files that changed.
    """

    def __init__(
        self, memory: _Memory, live: LiveSet, count: int, passages: int, df: _Counts
    ) -> None:
        self.memory, self.live, self.df = memory, live, df
        self.count = count  # live records known (those the store returned)
        self.passages = passages  # of which passages
        self.matrix = memory.titles.matrix()
        self.title_ids = memory.titles.ids  # appended to later: only rows < len(matrix) count
        self.chunk_matrix = memory.passages.matrix() if memory.passages else None
        self.passage_ids = memory.passages.ids if memory.passages else []
        self._languages: frozenset[str] | None = None

    @classmethod
    def build(
        cls, store: Chroma, live: LiveSet, keep: bool, source: _Memory | None = None
    ) -> _Catalogue:
        """From scratch, reusing what `source` already holds."""
        parts = source.parts if source is not None else None
        empty = cls(_Memory(keep, parts), _NOTHING, 0, 0, _Counts({}, {}))
        return empty.advance(store, live, live.chunks.keys(), source)

    def advance(
        self,
        store: Chroma,
        live: LiveSet,
        changed: Iterable[str],
        source: _Memory | None = None,
    ) -> _Catalogue:
        """The catalogue of `live`, given the paths whose chunks may differ from this one's."""
        gone, added = [], []
        for path in set(changed):
            before, after = self.live.chunks.get(path, ()), live.chunks.get(path, ())
            gone += [cid for cid in before if cid not in after]
            added += [cid for cid in after if cid not in before]
        records = self.memory.records
        self.memory.load(store, added, source)
        old = [records[cid] for cid in gone if cid in records]
        new = [records[cid] for cid in added if cid in records]
        passages = self.passages + _passages(new) - _passages(old)
        count = self.count + len(new) - len(old)
        df = self.df.moved([r.words for r in old], [r.words for r in new])
        return _Catalogue(self.memory, live, count, passages, df)

    def languages(self) -> frozenset[str]:
        """The languages of the live articles (read once per catalogue)."""
        if self._languages is None:
            self._languages = frozenset(
                rec.language
                for cid in self.title_ids[: len(self.matrix)]
                if cid in self.live.ids and isinstance(rec := self.memory.records[cid], _Title)
            )
        return self._languages

    def worn(self) -> bool:
        """Too many replaced records kept: time to compact."""
        return len(self.memory.records) - self.count > self.count // 2 + COMPACT_SLACK

    def title(self, path: str) -> tuple[int, _Title] | None:
        """The article's title record and its row in `matrix`."""
        for cid in self.live.chunks.get(path, ()):
            rec = self.memory.records.get(cid)
            if isinstance(rec, _Title):
                return self.memory.titles.row[cid], rec
        return None

    def top_titles(self, sims: np.ndarray, k: int) -> list[_Title]:
        found: list[_Title] = []
        for row in np.argsort(-sims):
            cid = self.title_ids[int(row)]
            if cid in self.live.ids:
                rec = self.memory.records[cid]
                assert isinstance(rec, _Title)
                found.append(rec)
                if len(found) == k:
                    break
        return found

    def top_passages(self, sims: np.ndarray, n: int) -> list[int]:
        """Rows of the n live passages most similar (sims: over every row of chunk_matrix)."""
        m = n + len(sims) - self.passages  # enough to hold n live ones among replaced rows
        top = np.argpartition(-sims, m)[:m] if len(sims) > m else np.arange(len(sims))
        rows = [int(r) for r in top if self.passage_ids[int(r)] in self.live.ids]
        return sorted(rows, key=lambda r: -sims[r])[:n] if len(rows) > n else rows

    def passage_rows(self, path: str) -> list[int]:
        assert self.memory.passages is not None
        where = self.memory.passages.row
        return [where[cid] for cid in self.live.chunks.get(path, ()) if cid in where]

    def words(self, cid: str) -> frozenset[str] | None:
        rec = self.memory.records.get(cid)
        return rec.words if rec else None

    def weight(self, word: str) -> float:
        """Rarer words say more about the topic; words the knowledge base lacks say most."""
        return math.log(1.0 + (self.count + 1) / (self.df.get(word, 0) + 1))

    # Whole-catalogue views (they walk every record): tests, inspection, and warming the
    # sentence cache of an index small enough to fit in it.
    @property
    def paths(self) -> list[str]:
        return [
            self.memory.records[c].path
            for c in self.title_ids[: len(self.matrix)]
            if c in self.live.ids
        ]

    @property
    def chunks(self) -> dict[str, _Chunk]:
        return {
            cid: rec
            for cid in self.live.ids
            if isinstance(rec := self.memory.records.get(cid), _Chunk)
        }

    @property
    def chunk_ids(self) -> list[str]:
        n = 0 if self.chunk_matrix is None else len(self.chunk_matrix)
        return [cid for cid in self.passage_ids[:n] if cid in self.live.ids]


def _passages(records: list[_Record]) -> int:
    return sum(isinstance(r, _Chunk) for r in records)


def _changed_paths(old: LiveSet, new: LiveSet) -> set[str]:
    """Paths whose chunk ids differ: the fallback when the manifest cannot name them."""
    return {
        p for p in old.chunks.keys() | new.chunks.keys() if old.chunks.get(p) != new.chunks.get(p)
    }


class Retriever:
    def __init__(
        self,
        store: Chroma,
        manifest: Manifest,
        embeddings: Embeddings,
        title_weight: float,
        k: int = 20,
        lexical_weight: float = LEXICAL_WEIGHT,
        passage_lexical_weight: float = PASSAGE_LEXICAL_WEIGHT,
        memory_limit: int = MEMORY_LIMIT,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.embeddings = embeddings
        self.title_weight = title_weight
        self.lexical_weight = lexical_weight
        self.passage_lexical_weight = passage_lexical_weight
        self.k = k
        self.memory_limit = memory_limit
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._generation = -1
        self._versions: dict[str, str] = {}
        self._live: set[str] = set()
        # Set when each vector joins several encoders' (LocalEmbeddings "dual"): every part
        # is normalised on its own, so a query in one part scores that encoder's cosine.
        self.parts: tuple[int, ...] | None = getattr(embeddings, "parts", None)
        self._catalogue = _Catalogue(_Memory(True, self.parts), _NOTHING, 0, 0, _Counts({}, {}))

    def refresh(self) -> bool:
        """Move on to the manifest's live set if it changed. Cheap when nothing changed, and
        otherwise costs what the changed files hold, not what the index holds."""
        gen = self.manifest.generation()
        if gen == self._generation:
            return False
        with self._refreshing:
            live = self.manifest.live_set()
            if live.generation == self._generation:
                return False
            # Searches keep reading the old catalogue until the new one is complete.
            fresh = self._next(live)
            with self._lock:
                self._versions, self._live = live.versions, live.ids
                self._generation, self._catalogue = live.generation, fresh
        return True

    def _next(self, live: LiveSet) -> _Catalogue:
        cat = self._catalogue
        keep = len(live.ids) <= self.memory_limit
        if cat.live.generation < 0 or keep != cat.memory.keep:
            return self._rebuild(live, keep)
        named = self.manifest.changes_since(cat.live.generation)
        # None: another process moved the manifest, which cannot say what changed.
        changed = _changed_paths(cat.live, live) if named is None else named
        fresh = cat.advance(self.store, live, changed)
        return self._rebuild(live, keep) if fresh.worn() else fresh

    def _rebuild(self, live: LiveSet, keep: bool) -> _Catalogue:
        """Every record again, copied from memory where it is there (fetched otherwise)."""
        return _Catalogue.build(self.store, live, keep, self._catalogue.memory)

    @property
    def passage_count(self) -> int:
        return self._catalogue.passages

    def languages(self) -> frozenset[str]:
        """The languages of the articles served now."""
        with self._lock:
            cat = self._catalogue
        return cat.languages()

    def live_passages(self) -> list[tuple[str, Passage]]:
        """(article title, passage) for every passage served now: for warming caches."""
        with self._lock:
            cat = self._catalogue
        titles: dict[str, str] = {}
        out = []
        for cid, rec in cat.chunks.items():
            if rec.path not in titles:
                found = cat.title(rec.path)
                titles[rec.path] = found[1].title if found else ""
            out.append((titles[rec.path], Passage(cid, rec.text, rec.heading, 0.0)))
        return out

    @property
    def article_count(self) -> int:
        return len(self._versions)

    def _fill_passages(self, hit: ArticleHit, q: np.ndarray, cat: _Catalogue) -> None:
        """Passages of an article that reached the top through its title only."""
        if cat.chunk_matrix is not None:
            rows = cat.passage_rows(hit.path)
            sims = cat.chunk_matrix[rows] @ q if rows else []
            for row, sim in zip(rows, sims, strict=True):
                hit.passages.append(self._passage(cat, row, float(sim)))
            return
        # Its live chunk ids come from the manifest: a read by id, not a filtered scan.
        got = self.store.get(
            ids=list(cat.live.chunks.get(hit.path, ())),
            include=["documents", "metadatas", "embeddings"],
        )
        for cid, doc, meta, emb in zip(
            got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=False
        ):
            if cid not in cat.live.ids or doc is None or (meta or {}).get("kind") != "chunk":
                continue
            e = np.asarray(emb, dtype=np.float32)
            sim = float(unit(e, self.parts) @ q)
            hit.passages.append(Passage(cid, _body(doc), str(meta.get("heading", "")), sim))

    @staticmethod
    def _passage(cat: _Catalogue, row: int, sim: float) -> Passage:
        cid = cat.passage_ids[row]
        c = cat.memory.records[cid]
        assert isinstance(c, _Chunk)
        return Passage(cid, c.text, c.heading, sim)

    def _passages(
        self, vec: list[float], q: np.ndarray, cat: _Catalogue
    ) -> list[tuple[str, Passage]]:
        """The 2k passages nearest the question, as (article path, passage)."""
        n = self.k * 2
        if cat.chunk_matrix is not None:
            sims = cat.chunk_matrix @ q
            found = []
            for row in cat.top_passages(sims, n):
                p = self._passage(cat, row, float(sims[row]))
                found.append((cat.memory.records[p.id].path, p))
            return found
        chunks = self.store.similarity_search_by_vector_with_relevance_scores(
            q.tolist(), k=n, filter={"kind": "chunk"}
        )
        # Chroma returns cosine distance over the whole vector; similarity = 1 - distance,
        # times the whole vector's norm when it joins several unit parts.
        scale = math.sqrt(len(self.parts)) * float(np.linalg.norm(q)) if self.parts else 1.0
        return [
            (
                str(doc.metadata["path"]),
                Passage(
                    doc.id or "",
                    _body(doc.page_content),
                    str(doc.metadata.get("heading", "")),
                    (1 - dist) * scale,
                ),
            )
            for doc, dist in chunks
            if doc.id in cat.live.ids  # a chunk the manifest no longer (or not yet) serves
        ]

    def search(
        self,
        question: str,
        top: int = 5,
        vector: list[float] | None = None,
        language: str = "en",
        gap: Callable[[str, str], float] | None = None,
    ) -> list[ArticleHit]:
        """The best articles for `question`, written in `language` (its words are matched
        with that language's rules). Translations of one article count once: the version in
        the customer's language when there is one, else the English one, else the
        best-scoring. `gap(question language, article language)`, when given, is added to
        the similarities of articles in another language (knowledge/embeddings.py)."""
        if self._generation < 0:
            self.refresh()
        # Otherwise the owner refreshes after each completed index run, so a search never
        # sees a half-applied update.
        with self._lock:
            cat = self._catalogue
        return self._search(cat, question, top, vector, language, gap)

    def _search(
        self,
        cat: _Catalogue,
        question: str,
        top: int,
        vector: list[float] | None,
        language: str = "en",
        gap: Callable[[str, str], float] | None = None,
    ) -> list[ArticleHit]:
        versions = cat.live.versions
        if not versions or not question.strip():
            return []
        vec = vector if vector is not None else self.embeddings.embed_query(question)
        q = np.asarray(vec, dtype=np.float32)
        q = unit(q, self.parts)
        hits: dict[str, ArticleHit] = {}
        title_sims = cat.matrix @ q if len(cat.matrix) else np.zeros(0, dtype=np.float32)
        for title in cat.top_titles(title_sims, self.k):
            hits[title.path] = self._hit(title, versions)
        for path, passage in self._passages(vec, q, cat):
            if path not in hits:
                found = cat.title(path)
                if found is None:
                    continue
                hits[path] = self._hit(found[1], versions)
            hits[path].passages.append(passage)
        chunk_sims = [p.similarity for h in hits.values() for p in h.passages]
        chunk_floor = min(chunk_sims, default=0.0)  # an upper bound for articles without any
        qwords = terms(question, language)
        weights = {w: cat.weight(w) for w in qwords}
        total = sum(weights.values())
        w, lam = self.title_weight, self.lexical_weight
        for hit in hits.values():
            if not hit.passages:
                self._fill_passages(hit, q, cat)
            found = cat.title(hit.path)
            assert found is not None
            row, title = found
            shift = gap(language, hit.language) if gap and hit.language != language else 0.0
            if shift:
                for p in hit.passages:
                    p.similarity += shift
            for p in hit.passages:
                # The passage's own words pick it among its article's passages...
                words = cat.words(p.id) or terms(f"{p.heading} {p.text}")
                p.coverage = _share(qwords & words, weights, total)
                # Headings are written as the questions customers ask: a match there counts
                # twice.
                in_heading = _share(qwords & terms(p.heading), weights, total)
                p.rank_score = p.similarity + self.passage_lexical_weight * (
                    p.coverage + in_heading
                )
            hit.passages.sort(key=lambda p: -p.rank_score)
            hit.title_similarity = float(title_sims[row]) + shift
            hit.passage_similarity = max((p.similarity for p in hit.passages), default=chunk_floor)
            hit.dense_score = w * hit.title_similarity + (1 - w) * hit.passage_similarity
            # ...and with the title and tags they say whether the answer is about the question.
            if hit.passages:
                best = hit.passages[0]
                words = cat.words(best.id) or terms(f"{best.heading} {best.text}")
                hit.coverage = _share(qwords & (words | title.words), weights, total)
            hit.score = (1 - lam) * hit.dense_score + lam * hit.coverage
        ranked = sorted(hits.values(), key=lambda h: -h.score)
        return _one_per_article(ranked, language)[:top]

    @staticmethod
    def _hit(title: _Title, versions: dict[str, str]) -> ArticleHit:
        # Unchanged chunks are shared between versions: the version comes from the manifest.
        return ArticleHit(
            title.path,
            title.title,
            title.url,
            versions.get(title.path, ""),
            0.0,
            0.0,
            -1.0,
            language=title.language,
            group=title.group or title.path,
        )


def unit(v: np.ndarray, parts: tuple[int, ...] | None = None) -> np.ndarray:
    """`v` at unit length, or with each of its `parts` at unit length (a zero part stays
    zero)."""
    v = np.asarray(v, dtype=np.float32)
    if not parts:
        return v / max(float(np.linalg.norm(v)), 1e-9)
    out = np.empty_like(v)
    start = 0
    for width in parts:
        piece = v[start : start + width]
        norm = float(np.linalg.norm(piece))
        out[start : start + width] = piece / norm if norm > 1e-9 else 0.0
        start += width
    return out


def _one_per_article(ranked: list[ArticleHit], language: str) -> list[ArticleHit]:
    """Translations collapsed: each article keeps its best rank, served by its version in
    `language` when the candidates hold one, else its English one, else its best-scoring."""
    by_group: dict[str, list[ArticleHit]] = {}
    for hit in ranked:
        by_group.setdefault(hit.group or hit.path, []).append(hit)
    out: list[ArticleHit] = []
    for hit in ranked:
        versions = by_group.pop(hit.group or hit.path, None)
        if versions is None:
            continue
        own = [v for v in versions if v.language == language] or [
            v for v in versions if v.language == "en"
        ]
        out.append(own[0] if own else versions[0])
    return out


def _share(found: set[str] | frozenset[str], weights: dict[str, float], total: float) -> float:
    return sum(weights[x] for x in found) / total if total else 0.0


def _body(document: str) -> str:
    """The passage text of a stored chunk (its first line is the title and heading)."""
    return document.split("\n", 1)[1] if "\n" in document else document
