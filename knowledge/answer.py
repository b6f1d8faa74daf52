"""Answers: extractive by default, abstaining below a calibrated score."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from knowledge.chunking import split_sentences
from knowledge.retriever import ArticleHit

ABSTAIN_TEXT = (
    "I'm sorry, I don't know the answer to that, and I'd rather not guess. "
    "Would you like me to connect you with a person from our support team?"
)
MAX_ANSWER_WORDS = 80


@dataclass
class Answer:
    answer_type: str  # "kb" or "abstain"
    text: str
    sources: list[dict[str, object]] = field(default_factory=list)  # cited articles
    tried: list[dict[str, object]] = field(default_factory=list)  # candidates looked at
    generated_by: str = "extractive"  # "extractive" | "llm" | "none"

    def payload(self) -> dict[str, object]:
        return {
            "answer_type": self.answer_type,
            "sources": [{k: s[k] for k in ("path", "title", "url", "score")} for s in self.sources],
        }


def citation_line(hit_sources: list[dict[str, object]]) -> str:
    parts = []
    for s in hit_sources:
        parts.append(f"{s['title']} ({s['url']})" if s.get("url") else str(s["title"]))
    return "Source: " + "; ".join(parts)


def abstain(tried: list[ArticleHit]) -> Answer:
    return Answer("abstain", ABSTAIN_TEXT, [], [h.source() for h in tried[:3]], "none")


def select_sentences(
    question_vec: np.ndarray,
    sentences: list[str],
    sent_vecs: np.ndarray,
    max_words: int = MAX_ANSWER_WORDS,
) -> list[str]:
    """The sentences that answer best, in their original order, within a word budget."""
    if len(sentences) <= 2 or sum(len(s.split()) for s in sentences) <= max_words:
        return sentences
    sims = sent_vecs @ question_vec
    order = np.argsort(-sims)
    best = float(sims[order[0]])
    chosen = {int(order[0])}
    words = len(sentences[order[0]].split())
    # A short lead-in sentence ("Yes:"...) rarely stands alone: keep the next one too.
    for i in order[1:]:
        i = int(i)
        n = len(sentences[i].split())
        if sims[i] < best - 0.15 or words + n > max_words:
            continue
        chosen.add(i)
        words += n
    return [sentences[i] for i in sorted(chosen)]


def extractive_answer(question_vec: np.ndarray, hits: list[ArticleHit], encode) -> Answer:
    """Quote the best passage of the best article, trimmed to what answers the question."""
    top = hits[0]
    passage = top.passages[0].text if top.passages else ""
    sentences = split_sentences(passage)
    if not sentences:
        return abstain(hits)
    short = len(sentences) <= 2 or sum(len(x.split()) for x in sentences) <= MAX_ANSWER_WORDS
    # Sentences are only embedded when the passage must be trimmed.
    vecs = np.zeros((len(sentences), 1)) if short else encode(sentences)
    chosen = select_sentences(question_vec, sentences, vecs)
    sources = [top.source()]
    body = " ".join(chosen)
    text = f"{body}\n{citation_line(sources)}"
    return Answer("kb", text, sources, [h.source() for h in hits[:3]], "extractive")
