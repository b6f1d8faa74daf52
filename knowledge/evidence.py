"""Sentence-level evidence: which sentence of the best article answers the question, and how well.

A passage vector averages several facts, so "when do I get my money back on my credit card"
is as close to the store-credit passage as to the one listing card refund times. Each sentence
is therefore embedded on its own, with its article title and heading as context (the way
passages are), and the article's best sentence decides:
  - which passage is quoted (its best sentence, plus a little for its topic-word coverage);
  - the answer's confidence, which the abstention threshold applies to:
        confidence = (1 - LEXICAL_WEIGHT) * (TITLE_WEIGHT * sim(question, title)
                                             + (1 - TITLE_WEIGHT) * best sentence similarity)
                     + LEXICAL_WEIGHT * coverage
Both weights and the threshold are chosen on the development splits of the labelled answer
set (bench/knowledge_answer_quality.py). Only the top article is read this way, so retrieval
ranking (measured on StackFAQ) is unchanged.

Passage ids are content hashes, so cached sentence vectors can never be stale.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.chunking import split_sentences
from knowledge.retriever import ArticleHit, Passage

TITLE_WEIGHT = 0.4
LEXICAL_WEIGHT = 0.3
# Choosing the passage: its best sentence plus this weight times its coverage (retriever.py).
PASSAGE_LEXICAL_WEIGHT = 0.2
CACHE_PASSAGES = 4096  # about 3 sentences x 1.5 kB each: ~20 MB at most

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass
class Evidence:
    passage: Passage
    sentences: list[str]
    sims: np.ndarray  # similarity of each sentence of `passage` to the question
    best: float  # the highest of them
    rank: float  # best + PASSAGE_LEXICAL_WEIGHT * the passage's coverage: picks the passage


class SentenceEvidence:
    def __init__(self, encode: Encode, cache_size: int = CACHE_PASSAGES) -> None:
        self.encode = encode
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[list[str], np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def sentence_vectors(
        self, title: str, passages: list[Passage]
    ) -> list[tuple[list[str], np.ndarray]]:
        """Each passage's sentences and their unit vectors (title and heading as context)."""
        found: dict[str, tuple[list[str], np.ndarray]] = {}
        with self._lock:
            for p in passages:
                if p.id in self._cache:
                    self._cache.move_to_end(p.id)
                    found[p.id] = self._cache[p.id]
        todo = [p for p in passages if p.id not in found]
        texts: list[str] = []
        split: list[list[str]] = []
        for p in todo:
            sents = split_sentences(p.text)
            split.append(sents)
            head = f"{title}: {p.heading}" if p.heading else title
            texts += [f"{head}\n{s}" for s in sents]
        vecs = self.encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        at = 0
        with self._lock:
            for p, sents in zip(todo, split, strict=True):
                found[p.id] = (sents, vecs[at : at + len(sents)])
                at += len(sents)
                self._cache[p.id] = found[p.id]
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return [found[p.id] for p in passages]

    def warm(self, passages: list[tuple[str, Passage]]) -> int:
        """Embed the sentences of these (title, passage) pairs ahead of the first questions,
        when they all fit in the cache. Returns how many passages were embedded now."""
        if len(passages) > self.cache_size:
            return 0  # they would only evict each other
        with self._lock:
            todo = [(t, p) for t, p in passages if p.id not in self._cache]
        by_title: dict[str, list[Passage]] = {}
        for title, p in todo:
            by_title.setdefault(title, []).append(p)
        for title, group in by_title.items():
            self.sentence_vectors(title, group)
        return len(todo)

    def assess(
        self, question_vec: np.ndarray, hit: ArticleHit, shift: float = 0.0
    ) -> list[Evidence]:
        """The hit's passages that hold evidence, best first (the hit's passages are put in
        that order too), and the hit's confidence. `shift` is added to every sentence's
        similarity (the cross-language gap, as the retriever added it to the passages')."""
        q = question_vec / max(float(np.linalg.norm(question_vec)), 1e-9)
        found = []
        for p, (sents, vecs) in zip(
            hit.passages, self.sentence_vectors(hit.title, hit.passages), strict=True
        ):
            if sents:
                sims = vecs @ q + shift
                best = float(sims.max())
                found.append(
                    Evidence(p, sents, sims, best, best + PASSAGE_LEXICAL_WEIGHT * p.coverage)
                )
        if not found:
            return []
        found.sort(key=lambda e: -e.rank)
        rest = [p for p in hit.passages if all(p is not e.passage for e in found)]
        hit.passages[:] = [e.passage for e in found] + rest
        strongest = max(e.best for e in found)
        dense = TITLE_WEIGHT * hit.title_similarity + (1 - TITLE_WEIGHT) * strongest
        hit.confidence = (1 - LEXICAL_WEIGHT) * dense + LEXICAL_WEIGHT * hit.coverage
        return found
