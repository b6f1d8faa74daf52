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

Title vectors, tags and every passage's words are kept in memory and updated incrementally
when the manifest moves on, so a search makes one vector-store query (the passages).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from knowledge.store import Manifest
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

    def source(self) -> dict[str, object]:
        return {
            "path": self.path,
            "title": self.title,
            "url": self.url,
            "score": round(self.score, 4),
            "version": self.version,
        }


@dataclass(frozen=True)
class _Title:
    path: str
    title: str
    url: str
    words: frozenset[str]


@dataclass(frozen=True)
class _Chunk:
    path: str
    heading: str
    text: str


class _Catalogue:
    """What the live index holds, in memory: title vectors and the words of every record.

    While the index has at most `limit` records, the passage vectors are kept too and a
    search is one matrix product; above it, passages are searched in the vector store.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.words: dict[str, frozenset[str]] = {}  # record id -> its words (heading included)
        self.titles: dict[str, _Title] = {}  # title-record id -> article
        self.chunks: dict[str, _Chunk] = {}  # passage id -> passage
        self.vecs: dict[str, np.ndarray] = {}  # unit vectors: titles always, passages if kept
        self.df: Counter[str] = Counter()  # in how many records each word occurs
        self.paths: list[str] = []  # row i of `matrix` is the title vector of paths[i]
        self.rows: dict[str, int] = {}
        self.matrix = np.zeros((0, 1), dtype=np.float32)
        self.by_path: dict[str, _Title] = {}
        self.chunk_ids: list[str] = []  # row i of `chunk_matrix` is passage chunk_ids[i]
        self.chunk_matrix: np.ndarray | None = None  # None: search passages in the store
        self.chunk_rows_by_path: dict[str, list[int]] = {}

    def copy(self) -> _Catalogue:
        new = _Catalogue(self.limit)
        new.words, new.titles, new.chunks = dict(self.words), dict(self.titles), dict(self.chunks)
        new.vecs, new.df = dict(self.vecs), Counter(self.df)
        return new

    def update(self, store: Chroma, live: set[str]) -> None:
        keep = len(live) <= self.limit
        for cid in [cid for cid in self.words if cid not in live]:
            self.df.subtract(self.words.pop(cid))
            self.titles.pop(cid, None)
            self.chunks.pop(cid, None)
            self.vecs.pop(cid, None)
        if not keep:
            self.vecs = {cid: self.vecs[cid] for cid in self.titles}
        new = [cid for cid in live if cid not in self.words or (keep and cid not in self.vecs)]
        for start in range(0, len(new), _FETCH):
            got = store.get(
                ids=new[start : start + _FETCH], include=["documents", "metadatas", "embeddings"]
            )
            for cid, doc, meta, emb in zip(
                got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=False
            ):
                meta = meta or {}
                path, heading, body = (
                    str(meta["path"]),
                    str(meta.get("heading", "")),
                    _body(doc or ""),
                )
                if cid not in self.words:
                    self.words[cid] = terms(f"{heading} {body}")
                    self.df.update(self.words[cid])
                if meta.get("kind") == "title":
                    title = _Title(path, str(meta["title"]), str(meta["url"]), self.words[cid])
                    self.titles[cid] = title
                else:
                    self.chunks[cid] = _Chunk(path, heading, body)
                if keep or meta.get("kind") == "title":
                    v = np.asarray(emb, dtype=np.float32)
                    self.vecs[cid] = v / max(float(np.linalg.norm(v)), 1e-9)
        self.df = +self.df  # drop zero counts
        self._index(keep)

    def _index(self, keep: bool) -> None:
        ids = list(self.titles)
        self.paths = [self.titles[i].path for i in ids]
        self.rows = {path: row for row, path in enumerate(self.paths)}
        self.by_path = {t.path: t for t in self.titles.values()}
        self.matrix = _stack([self.vecs[i] for i in ids])
        self.chunk_matrix, self.chunk_ids, self.chunk_rows_by_path = None, [], {}
        if keep:
            self.chunk_ids = list(self.chunks)
            self.chunk_matrix = _stack([self.vecs[i] for i in self.chunk_ids])
            for row, cid in enumerate(self.chunk_ids):
                self.chunk_rows_by_path.setdefault(self.chunks[cid].path, []).append(row)

    def weight(self, word: str) -> float:
        """Rarer words say more about the topic; words the knowledge base lacks say most."""
        n = len(self.words)
        return math.log(1.0 + (n + 1) / (self.df.get(word, 0) + 1))


def _stack(vectors: list[np.ndarray]) -> np.ndarray:
    return np.stack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)


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
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._generation = -1
        self._versions: dict[str, str] = {}
        self._live: set[str] = set()
        self._catalogue = _Catalogue(memory_limit)

    def refresh(self) -> bool:
        """Reload the live-version map if the manifest moved on. Cheap when nothing changed."""
        gen = self.manifest.generation()
        if gen == self._generation:
            return False
        with self._refreshing:
            gen = self.manifest.generation()
            if gen == self._generation:
                return False
            versions, live_ids = self.manifest.live()
            # Searches keep reading the old catalogue until the new one is complete.
            fresh = self._catalogue.copy()
            fresh.update(self.store, live_ids)
            with self._lock:
                self._versions, self._live, self._generation = versions, live_ids, gen
                self._catalogue = fresh
        return True

    @property
    def article_count(self) -> int:
        return len(self._versions)

    def _fill_passages(
        self, hit: ArticleHit, q: np.ndarray, live: set[str], cat: _Catalogue
    ) -> None:
        """Passages of an article that reached the top through its title only."""
        if cat.chunk_matrix is not None:
            rows = cat.chunk_rows_by_path.get(hit.path, [])
            sims = cat.chunk_matrix[rows] @ q if rows else []
            for row, sim in zip(rows, sims, strict=True):
                cid = cat.chunk_ids[row]
                c = cat.chunks[cid]
                hit.passages.append(Passage(cid, c.text, c.heading, float(sim)))
            return
        got = self.store.get(
            where={"$and": [{"path": hit.path}, {"kind": "chunk"}]},
            include=["documents", "metadatas", "embeddings"],
        )
        for cid, doc, meta, emb in zip(
            got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=False
        ):
            if cid not in live or doc is None:
                continue
            e = np.asarray(emb, dtype=np.float32)
            sim = float(e @ q / max(float(np.linalg.norm(e)), 1e-9))
            hit.passages.append(Passage(cid, _body(doc), str(meta.get("heading", "")), sim))

    def _passages(
        self, vec: list[float], q: np.ndarray, live: set[str], cat: _Catalogue
    ) -> list[tuple[str, Passage]]:
        """The 2k passages nearest the question, as (article path, passage)."""
        n = self.k * 2
        if cat.chunk_matrix is not None:
            sims = cat.chunk_matrix @ q
            top = np.argpartition(-sims, n)[:n] if len(sims) > n else np.arange(len(sims))
            found = []
            for row in top:
                cid = cat.chunk_ids[int(row)]
                c = cat.chunks[cid]
                found.append((c.path, Passage(cid, c.text, c.heading, float(sims[int(row)]))))
            return found
        chunks = self.store.similarity_search_by_vector_with_relevance_scores(
            vec, k=n, filter={"kind": "chunk"}
        )
        # Chroma returns cosine distance; similarity = 1 - distance.
        return [
            (
                str(doc.metadata["path"]),
                Passage(
                    doc.id or "",
                    _body(doc.page_content),
                    str(doc.metadata.get("heading", "")),
                    1 - dist,
                ),
            )
            for doc, dist in chunks
            if doc.id in live  # a chunk the manifest no longer (or not yet) serves
        ]

    def search(
        self, question: str, top: int = 5, vector: list[float] | None = None
    ) -> list[ArticleHit]:
        if self._generation < 0:
            self.refresh()
        # Otherwise the owner refreshes after each completed index run, so a search never
        # sees a half-applied update.
        with self._lock:
            versions, live, cat = self._versions, self._live, self._catalogue
        if not versions or not question.strip():
            return []
        vec = vector if vector is not None else self.embeddings.embed_query(question)
        q = np.asarray(vec, dtype=np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-9)
        hits: dict[str, ArticleHit] = {}
        title_sims = cat.matrix @ q if len(cat.paths) else np.zeros(0, dtype=np.float32)
        for i in np.argsort(-title_sims)[: self.k]:
            path = cat.paths[int(i)]
            hits[path] = self._hit(cat.by_path[path], versions)
        for path, passage in self._passages(vec, q, live, cat):
            if path not in hits:
                if path not in cat.by_path:
                    continue
                hits[path] = self._hit(cat.by_path[path], versions)
            hits[path].passages.append(passage)
        chunk_sims = [p.similarity for h in hits.values() for p in h.passages]
        chunk_floor = min(chunk_sims, default=0.0)  # an upper bound for articles without any
        qwords = terms(question)
        weights = {w: cat.weight(w) for w in qwords}
        total = sum(weights.values())
        w, lam = self.title_weight, self.lexical_weight
        for hit in hits.values():
            if not hit.passages:
                self._fill_passages(hit, q, live, cat)
            title_words = cat.by_path[hit.path].words
            for p in hit.passages:
                # The passage's own words pick it among its article's passages...
                words = cat.words.get(p.id) or terms(f"{p.heading} {p.text}")
                p.coverage = _share(qwords & words, weights, total)
                # Headings are written as the questions customers ask: a match there counts
                # twice.
                in_heading = _share(qwords & terms(p.heading), weights, total)
                p.rank_score = p.similarity + self.passage_lexical_weight * (
                    p.coverage + in_heading
                )
            hit.passages.sort(key=lambda p: -p.rank_score)
            hit.title_similarity = float(title_sims[cat.rows[hit.path]])
            hit.passage_similarity = max((p.similarity for p in hit.passages), default=chunk_floor)
            hit.dense_score = w * hit.title_similarity + (1 - w) * hit.passage_similarity
            # ...and with the title and tags they say whether the answer is about the question.
            if hit.passages:
                best = hit.passages[0]
                words = cat.words.get(best.id) or terms(f"{best.heading} {best.text}")
                hit.coverage = _share(qwords & (words | title_words), weights, total)
            hit.score = (1 - lam) * hit.dense_score + lam * hit.coverage
        ranked = sorted(hits.values(), key=lambda h: -h.score)
        return ranked[:top]

    @staticmethod
    def _hit(title: _Title, versions: dict[str, str]) -> ArticleHit:
        # Unchanged chunks are shared between versions: the version comes from the manifest.
        return ArticleHit(
            title.path, title.title, title.url, versions.get(title.path, ""), 0.0, 0.0, -1.0
        )


def _share(found: set[str] | frozenset[str], weights: dict[str, float], total: float) -> float:
    return sum(weights[x] for x in found) / total if total else 0.0


def _body(document: str) -> str:
    """The passage text of a stored chunk (its first line is the title and heading)."""
    return document.split("\n", 1)[1] if "\n" in document else document
