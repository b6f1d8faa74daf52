"""Sentence-level evidence: passage choice, confidence, near-tied sections, caching."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import pytest

from knowledge.answer import extractive_answer, join_sentences
from knowledge.evidence import LEXICAL_WEIGHT, TITLE_WEIGHT, SentenceEvidence
from knowledge.retriever import ArticleHit, Passage
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import article


class WordEncoder:
    """Deterministic bag-of-words vectors (unit tests only); counts what it is asked."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> np.ndarray:
        v = np.zeros(256, dtype=np.float32)
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
        return v / max(float(np.linalg.norm(v)), 1e-9)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.stack([self.vector(t) for t in texts])


def refunds_hit() -> ArticleHit:
    hit = ArticleHit("refunds.md", "Refunds", "https://help.example/refunds", "v1", 0.6, 0.3, 0.5)
    hit.coverage = 0.5
    hit.passages = [
        Passage("p-credit", "Store credit arrives within 1 business day.", "Store credit", 0.6),
        Passage(
            "p-times",
            "Card refunds take 5-10 business days. PayPal refunds take 1-2 business days.",
            "Refund times",
            0.5,
        ),
    ]
    return hit


def test_the_passage_holding_the_best_sentence_is_quoted_first() -> None:
    enc = WordEncoder()
    hit = refunds_hit()
    q = enc.vector("how many days do paypal refunds take")
    found = SentenceEvidence(enc).assess(q, hit)
    assert found[0].passage.id == "p-times"
    assert hit.passages[0].id == "p-times"
    answer = extractive_answer([hit], found)
    assert "PayPal refunds take 1-2 business days" in answer.text
    assert "Store credit" not in answer.text
    assert answer.sources[0]["path"] == "refunds.md"


def test_confidence_combines_title_best_sentence_and_coverage() -> None:
    enc = WordEncoder()
    hit = refunds_hit()
    q = enc.vector("how many days do paypal refunds take")
    found = SentenceEvidence(enc).assess(q, hit)
    best = max(e.best for e in found)
    expected = (1 - LEXICAL_WEIGHT) * (
        TITLE_WEIGHT * hit.title_similarity + (1 - TITLE_WEIGHT) * best
    ) + LEXICAL_WEIGHT * hit.coverage
    assert hit.confidence == pytest.approx(expected)
    assert hit.source()["score"] == pytest.approx(expected, abs=1e-4)
    assert hit.answer_score == hit.confidence != hit.score


def test_near_tied_sections_are_quoted_under_their_headings() -> None:
    enc = WordEncoder()
    hit = ArticleHit("ship.md", "Shipping", "https://help.example/ship", "v1", 0.6, 0.3, 0.5)
    hit.passages = [
        Passage("us", "Standard delivery takes 5-9 business days.", "United States", 0.5),
        Passage("row", "Standard delivery takes 8-15 business days.", "Rest of the world", 0.5),
        Passage("pay", "We accept cards and PayPal.", "Payment", 0.1),
    ]
    q = enc.vector("how long does standard delivery take to japan")
    found = SentenceEvidence(enc).assess(q, hit)
    text = extractive_answer([hit], found).text
    assert "United States: Standard delivery takes 5-9 business days." in text
    assert "Rest of the world: Standard delivery takes 8-15 business days." in text
    assert "PayPal" not in text


def test_sentence_vectors_are_cached_by_passage_id() -> None:
    enc = WordEncoder()
    evidence = SentenceEvidence(enc, cache_size=1)
    q = enc.vector("paypal refund")
    evidence.assess(q, refunds_hit())
    assert sum(len(c) for c in enc.calls) == 3  # 1 + 2 sentences
    evidence.assess(q, refunds_hit())
    # One passage fits in the cache: the older one (1 sentence) is embedded again. Ids are
    # content hashes, so a cached vector is never stale.
    assert sum(len(c) for c in enc.calls) == 3 + 1
    assert all(t.startswith("Refunds: ") for c in enc.calls for t in c)


def test_a_hit_without_sentences_gives_no_evidence_and_no_answer() -> None:
    enc = WordEncoder()
    hit = ArticleHit("x.md", "X", "", "v1", 0.6, 0.3, 0.5)
    assert SentenceEvidence(enc).assess(enc.vector("anything"), hit) == []
    assert hit.confidence is None
    assert extractive_answer([hit], []).answer_type == "abstain"


def test_credit_card_refund_question_quotes_the_card_refund_time(
    sample_service: KnowledgeService,
) -> None:
    # The store-credit passage is as close as a whole; the card sentence is closer.
    a = sample_service.answer("when will I get my money back on my credit card")
    assert a.answer_type == "kb"
    assert "5–10 business days" in a.text
    assert a.sources[0]["path"] == "refunds-by-payment-method.md"
    assert float(str(a.sources[0]["score"])) >= sample_service.thresholds()[0]


def test_a_near_miss_about_an_unlisted_product_detail_is_not_answered(
    sample_service: KnowledgeService,
) -> None:
    # The earbuds article is the closest, but nothing in it says whether they cancel noise.
    a = sample_service.answer("Do the Pulse earbuds have noise cancelling?")
    assert a.answer_type != "kb"  # at most a suggestion that asks whether it answered
    assert a.tried and a.tried[0]["path"] == "troubleshooting-pulse-earbuds.md"
    assert float(str(a.tried[0]["score"])) < sample_service.thresholds()[0]


def test_list_items_stay_on_lines_of_their_own() -> None:
    text = join_sentences(["Refund times:", "- Card: 5–10 days.", "- PayPal: 1–2 days.", "Done."])
    assert text == "Refund times:\n- Card: 5–10 days.\n- PayPal: 1–2 days.\nDone."
    assert join_sentences(["One.", "Two."]) == "One. Two."


def test_indexing_warms_the_sentence_cache(tmp_path, make_service) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "refunds.md").write_text(
        article("Refunds", "## Times\n\nPayPal refunds take 1-2 business days. Cards take 5-10.")
    )
    svc = make_service(folder)
    svc.sync()
    assert svc.evidence is not None
    encode = svc.evidence.encode
    asked: list[str] = []
    svc.evidence.encode = lambda texts: asked.extend(texts) or encode(texts)
    a = svc.answer("how long do paypal refunds take")
    assert "1-2 business days" in a.text
    assert asked == []  # every sentence was embedded when the article was indexed
