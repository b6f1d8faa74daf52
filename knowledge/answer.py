"""Answers in three bands of confidence (knowledge/evidence.py):
  - kb: quote the article that answers, with its citation;
  - suggest: below the answer threshold but above the suggestion threshold, say honestly that
    an article *may* answer it, quote its best sentences and ask whether it did;
  - abstain: say the bot does not know and offer a person.
Both thresholds are calibrated on the development splits (bench/knowledge_answer_quality.py).

Every text the bot writes itself is in the customer's language (parley_shared/phrases.yml). The
quote is the article's own text: the version in the customer's language when the article has
one (knowledge/retriever.py picks it), else the original, introduced by a line that says so."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from parley_shared.language import DEFAULT
from parley_shared.phrases import phrase

from knowledge.evidence import Evidence
from knowledge.retriever import ArticleHit
from knowledge.text import word_count

ABSTAIN_TEXT = phrase("abstain")
SUGGEST_INTRO = phrase("suggest_intro")
SUGGEST_ASK = phrase("suggest_ask")
MAX_ANSWER_WORDS = 80  # from one passage
MAX_TOTAL_WORDS = 120  # from near-tied passages together
NEAR_TIE = 0.1  # in Evidence.rank (knowledge/evidence.py)
_ITEM = ("- ", "* ", "+ ")


@dataclass
class Answer:
    answer_type: str  # "kb", "suggest" or "abstain"
    text: str
    sources: list[dict[str, object]] = field(default_factory=list)  # cited articles
    tried: list[dict[str, object]] = field(default_factory=list)  # candidates looked at
    generated_by: str = "extractive"  # "extractive" | "llm" | "none"
    language: str = DEFAULT  # of the bot's own words (the customer's language)
    quoted_language: str = ""  # of the quoted article, when one is quoted
    # Who decided to answer, suggest or abstain: "model" (the language model read the
    # passages) or "offline" (the trained confidence's bands).
    decided_by: str = "offline"
    # The grounding check of the model's written answer: "passed", "failed", or "" when no
    # answer of the model's was checked (knowledge/grounding.py).
    grounding: str = ""
    # What the model did with the question, when it was asked or meant to be: "answered",
    # "no_answer", "ungrounded", "timeout", "busy", "error", "below_floor"; "" without one.
    model_outcome: str = ""
    problems: list[str] = field(default_factory=list)  # why the grounding check failed
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0

    def payload(self) -> dict[str, object]:
        return {
            "answer_type": self.answer_type,
            "sources": [{k: s[k] for k in ("path", "title", "url", "score")} for s in self.sources],
            "decided_by": self.decided_by,
            "grounding": self.grounding,
        }


def citation_line(hit_sources: list[dict[str, object]], language: str = DEFAULT) -> str:
    parts = []
    for s in hit_sources:
        parts.append(f"{s['title']} ({s['url']})" if s.get("url") else str(s["title"]))
    return f"{phrase('source', language)}: " + "; ".join(parts)


def abstain(tried: list[ArticleHit], language: str = DEFAULT) -> Answer:
    return Answer(
        "abstain",
        phrase("abstain", language),
        [],
        [h.source() for h in tried[:3]],
        "none",
        language=language,
    )


def suggest(quoted: Answer) -> Answer:
    """A quoted answer offered as a suggestion: the article may hold the answer, and the
    customer is asked whether it did (never generated: the passages may not answer it)."""
    if quoted.answer_type != "kb" or not quoted.sources:
        return quoted
    lang = quoted.language
    title = str(quoted.sources[0]["title"])
    intro = phrase("suggest_intro", lang, title=title)
    text = f"{intro}\n{quoted.text}\n{phrase('suggest_ask', lang)}"
    return replace(quoted, answer_type="suggest", text=text)


def other_language_intro(article_language: str, language: str) -> str:
    """The line before a quote in another language than the customer's ("" when none)."""
    if article_language == language:
        return ""
    if article_language == DEFAULT:
        return phrase("english_passage", language)
    name = phrase(f"name_{article_language}", language)
    return phrase("other_language_passage", language, language=name)


def select_sentences(
    sentences: list[str], sims: np.ndarray, max_words: int = MAX_ANSWER_WORDS
) -> list[str]:
    """The sentences that answer best, in their original order, within a word budget."""
    if len(sentences) <= 2 or sum(word_count(s) for s in sentences) <= max_words:
        return sentences
    order = np.argsort(-sims)
    best = float(sims[order[0]])
    chosen = {int(order[0])}
    words = word_count(sentences[order[0]])
    # Sentences nearly as close as the best one often carry the rest of the answer.
    for i in order[1:]:
        i = int(i)
        n = word_count(sentences[i])
        if sims[i] < best - 0.15 or words + n > max_words:
            continue
        chosen.add(i)
        words += n
    return [sentences[i] for i in sorted(chosen)]


def join_sentences(sentences: list[str]) -> str:
    """Sentences as running text, list items ("- ...") kept on lines of their own."""
    text, prev_item = "", False
    for sentence in sentences:
        item = sentence.startswith(_ITEM)
        sep = "\n" if item or prev_item else " "
        text = f"{text}{sep}{sentence}" if text else sentence
        prev_item = item
    return text


def _under(heading: str, text: str) -> str:
    if not heading:
        return text
    return f"{heading}:\n{text}" if text.startswith(_ITEM) else f"{heading}: {text}"


def extractive_answer(
    hits: list[ArticleHit], evidence: list[Evidence], language: str = DEFAULT
) -> Answer:
    """Quote the passage holding the best evidence, trimmed to what answers the question.

    Sibling sections often tie ("United States and Canada" / "Rest of the world" for a
    question about Japan): passages ranked within NEAR_TIE of the best are quoted too, each
    under its heading, within MAX_TOTAL_WORDS, rather than guessing between them.
    """
    if not evidence:
        return abstain(hits, language)
    first = evidence[0]
    parts = [(first.passage.heading, select_sentences(first.sentences, first.sims))]
    words = sum(word_count(s) for s in parts[0][1])
    for e in evidence[1:]:
        if e.rank < first.rank - NEAR_TIE:
            break
        chosen = select_sentences(e.sentences, e.sims)
        n = sum(word_count(s) for s in chosen)
        if words + n > MAX_TOTAL_WORDS:
            break
        parts.append((e.passage.heading, chosen))
        words += n
    if len(parts) == 1:
        body = join_sentences(parts[0][1])
    else:
        body = "\n".join(_under(head, join_sentences(s)) for head, s in parts)
    top = hits[0]
    sources = [top.source()]
    intro = other_language_intro(top.language, language)
    text = f"{intro}\n{body}" if intro else body
    text = f"{text}\n{citation_line(sources, language)}"
    return Answer(
        "kb",
        text,
        sources,
        [h.source() for h in hits[:3]],
        "extractive",
        language=language,
        quoted_language=top.language,
    )
