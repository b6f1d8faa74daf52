"""Extractive summary of what the customer said: their most informative sentences, in order."""

from __future__ import annotations

import re
from collections import Counter

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = frozenset(
    (
        "the",
        "and",
        "you",
        "your",
        "for",
        "are",
        "was",
        "were",
        "with",
        "that",
        "this",
        "have",
        "has",
        "had",
        "not",
        "but",
        "can",
        "could",
        "would",
        "should",
        "will",
        "just",
        "what",
        "when",
        "where",
        "which",
        "who",
        "how",
        "why",
        "there",
        "their",
        "they",
        "them",
        "then",
        "than",
        "too",
        "very",
        "all",
        "any",
        "our",
        "out",
        "get",
        "got",
        "hello",
        "thanks",
        "thank",
        "please",
        "want",
        "need",
        "like",
        "know",
        "yes",
        "okay",
        "hey",
    )
)


def _words(text: str) -> list[str]:
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in _STOP]


def extractive_summary(
    customer_messages: list[str], max_sentences: int = 3, max_chars: int = 400
) -> str:
    """Pick the customer's sentences that share the most content words with the rest.

    Frequent words across the conversation mark its topic; sentences dense in them carry
    the request. The chosen sentences keep their original order so the summary reads naturally.
    """
    sentences = [
        s.strip()
        for message in customer_messages
        for s in _SENTENCE.split(message)
        if len(_words(s)) >= 1
    ]
    if not sentences:
        return ""
    freq = Counter(w for s in sentences for w in set(_words(s)))
    scored = []
    for index, sentence in enumerate(sentences):
        words = _words(sentence)
        score = sum(freq[w] for w in set(words)) + 0.5 * len(set(words))
        scored.append((score, index))
    chosen = sorted(i for _, i in sorted(scored, key=lambda t: (-t[0], t[1]))[:max_sentences])
    summary = " ".join(sentences[i] for i in chosen)
    return summary if len(summary) <= max_chars else summary[: max_chars - 1].rstrip() + "…"
