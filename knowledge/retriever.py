"""Article-level retrieval over the vector store.

Each article has a "title" vector (title + tags) and passage vectors. An article's score is
    title_weight * sim(question, title) + (1 - title_weight) * max sim(question, passage)
which beat plain passage or whole-article vectors on StackFAQ (see bench/results/).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from knowledge.store import Manifest

# Picking the passage to quote inside the chosen article: dense similarity plus this weight
# times the share of the question's content words found in the passage (its heading included).
# Only the passage choice uses it, not the article score or abstention
# (bench/results/knowledge_answer_quality.md).
PASSAGE_LEXICAL_WEIGHT = 0.2
_STOP = set(
    [
        "a",
        "an",
        "the",
        "i",
        "im",
        "my",
        "me",
        "you",
        "your",
        "we",
        "our",
        "us",
        "is",
        "are",
        "was",
        "do",
        "does",
        "did",
        "can",
        "could",
        "how",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "to",
        "of",
        "in",
        "on",
        "for",
        "and",
        "or",
        "it",
        "its",
        "this",
        "that",
        "be",
        "with",
        "from",
        "at",
        "by",
        "not",
        "will",
        "would",
        "have",
        "has",
        "get",
        "got",
        "there",
        "their",
        "they",
        "please",
        "any",
    ]
)


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2 and w not in _STOP}


@dataclass
class Passage:
    id: str
    text: str
    heading: str
    similarity: float
    rank_score: float = 0.0


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

    def source(self) -> dict[str, object]:
        return {
            "path": self.path,
            "title": self.title,
            "url": self.url,
            "score": round(self.score, 4),
            "version": self.version,
        }


class Retriever:
    def __init__(
        self,
        store: Chroma,
        manifest: Manifest,
        embeddings: Embeddings,
        title_weight: float,
        k: int = 20,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.embeddings = embeddings
        self.title_weight = title_weight
        self.k = k
        self._lock = threading.Lock()
        self._generation = -1
        self._versions: dict[str, str] = {}
        self._live: set[str] = set()

    def refresh(self) -> bool:
        """Reload the live-version map if the manifest moved on. Cheap when nothing changed."""
        gen = self.manifest.generation()
        if gen == self._generation:
            return False
        versions, live_ids = self.manifest.live()
        with self._lock:
            self._versions, self._live, self._generation = versions, live_ids, gen
        return True

    @property
    def article_count(self) -> int:
        return len(self._versions)

    @staticmethod
    def _hit(meta: dict, versions: dict[str, str]) -> ArticleHit:
        # Unchanged chunks are shared between versions: the version comes from the manifest.
        path = str(meta["path"])
        return ArticleHit(
            path, str(meta["title"]), str(meta["url"]), versions.get(path, ""), 0.0, 0.0, -1.0
        )

    def _fill_passages(self, hit: ArticleHit, vec: list[float], live: set[str]) -> None:
        """Passages of an article that reached the top through its title only."""
        got = self.store.get(
            where={"$and": [{"path": hit.path}, {"kind": "chunk"}]},
            include=["documents", "metadatas", "embeddings"],
        )
        q = np.asarray(vec, dtype=np.float32)
        for cid, doc, meta, emb in zip(
            got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=False
        ):
            if cid not in live or doc is None:
                continue
            text = doc.split("\n", 1)[1] if "\n" in doc else doc
            e = np.asarray(emb, dtype=np.float32)
            sim = float(e @ q / max(float(np.linalg.norm(e) * np.linalg.norm(q)), 1e-9))
            hit.passages.append(Passage(cid, text, str(meta.get("heading", "")), sim))

    def search(
        self, question: str, top: int = 5, vector: list[float] | None = None
    ) -> list[ArticleHit]:
        if self._generation < 0:
            self.refresh()
        # Otherwise the owner refreshes after each completed index run, so a search never
        # sees a half-applied update.
        with self._lock:
            versions, live = self._versions, self._live
        if not versions or not question.strip():
            return []
        vec = vector if vector is not None else self.embeddings.embed_query(question)
        titles = self.store.similarity_search_by_vector_with_relevance_scores(
            vec, k=min(self.k, len(versions)), filter={"kind": "title"}
        )
        chunks = self.store.similarity_search_by_vector_with_relevance_scores(
            vec, k=self.k * 2, filter={"kind": "chunk"}
        )
        hits: dict[str, ArticleHit] = {}
        title_sims: dict[str, float] = {}
        # Chroma returns cosine distance; similarity = 1 - distance.
        for doc, dist in titles:
            m = doc.metadata
            if doc.id not in live:
                continue  # a chunk the manifest no longer (or not yet) serves
            title_sims[m["path"]] = 1.0 - dist
            hits.setdefault(m["path"], self._hit(m, versions))
        for doc, dist in chunks:
            m = doc.metadata
            if doc.id not in live:
                continue
            hit = hits.setdefault(m["path"], self._hit(m, versions))
            text = (
                doc.page_content.split("\n", 1)[1] if "\n" in doc.page_content else doc.page_content
            )
            hit.passages.append(Passage(doc.id or "", text, str(m.get("heading", "")), 1.0 - dist))
        # Articles missing from one list get that list's lowest similarity (an upper bound).
        title_floor = min(title_sims.values(), default=0.0)
        chunk_sims = [p.similarity for h in hits.values() for p in h.passages]
        chunk_floor = min(chunk_sims, default=0.0)
        w = self.title_weight
        qwords = content_words(question)
        for hit in hits.values():
            if not hit.passages:
                self._fill_passages(hit, vec, live)
            for p in hit.passages:
                overlap = len(qwords & content_words(f"{p.heading} {p.text}")) / max(len(qwords), 1)
                p.rank_score = p.similarity + PASSAGE_LEXICAL_WEIGHT * overlap
            hit.passages.sort(key=lambda p: -p.rank_score)
            hit.title_similarity = title_sims.get(hit.path, title_floor)
            best = max((p.similarity for p in hit.passages), default=chunk_floor)
            hit.passage_similarity = best
            hit.score = w * hit.title_similarity + (1 - w) * hit.passage_similarity
        ranked = sorted(hits.values(), key=lambda h: -h.score)
        return ranked[:top]
