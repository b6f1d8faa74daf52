"""Answers across languages on a real index: translations, the customer's language, e5's reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from parley_shared.phrases import phrase

from knowledge.answer import other_language_intro
from knowledge.articles import load_folder
from knowledge.embeddings import LocalEmbeddings
from knowledge.retriever import unit
from tests.knowledge.conftest import article

RETURNS_EN = article(
    "Returning an item",
    "## Return window\n\nYou can return most items within 30 days of delivery.\n\n"
    "## Return shipping\n\nReturn shipping within the EU costs €6.95.",
    url="https://help.example/returns",
)
RETURNS_DE = article(
    "Artikel zurücksenden",
    "## Rückgabefrist\n\nSie können die meisten Artikel innerhalb von 30 Tagen nach der "
    "Lieferung zurücksenden.\n\n## Rücksendekosten\n\nDie Rücksendung innerhalb der EU "
    "kostet €6.95.",
    url="https://help.example/de/returns",
    language="de",
    translation_of="returns.md",
)
PACKSTATION_DE = article(
    "Lieferung an eine Packstation",
    "## Packstation\n\nSie können Ihre Bestellung an eine DHL Packstation liefern lassen. "
    "Geben Sie dazu Ihre Postnummer ein. Das Paket liegt 7 Tage zur Abholung bereit.",
    url="https://help.example/de/packstation",
    language="de",
)
WARRANTY_EN = article(
    "Warranty",
    "## How long is the warranty?\n\nElectronics have a 2-year warranty from the date of delivery.",
    url="https://help.example/warranty",
)


def write_kb(root: Path) -> Path:
    kb = root / "kb"
    kb.mkdir()
    for name, text in (
        ("returns.md", RETURNS_EN),
        ("returns.de.md", RETURNS_DE),
        ("packstation.de.md", PACKSTATION_DE),
        ("warranty.md", WARRANTY_EN),
    ):
        (kb / name).write_text(text, encoding="utf-8")
    return kb


@pytest.fixture
def service(tmp_path: Path, make_service):
    svc = make_service(write_kb(tmp_path))
    svc.sync()
    return svc


def test_translation_of_is_read_and_checked(tmp_path: Path) -> None:
    kb = write_kb(tmp_path)
    (kb / "self.de.md").write_text(
        article("Selbst", "Text.", language="de", translation_of="self.de.md"), encoding="utf-8"
    )
    (kb / "xx.md").write_text(article("Klingon", "Text.", language="tlh"), encoding="utf-8")
    result = load_folder(kb)
    by_path = {a.path: a for a in result.articles}
    assert by_path["returns.de.md"].translation_of == "returns.md"
    assert by_path["returns.de.md"].language == "de"
    assert any("translation of itself" in str(e) for e in result.errors)
    assert any("not one of en, de, es, fr, zh, ja" in str(w) for w in result.warnings)


def test_each_question_is_read_with_the_encoder_for_its_language(service) -> None:
    assert service.kinds == ("minilm", "e5")
    assert service.reading("en") == "minilm"
    assert {service.reading(lang) for lang in ("de", "es", "fr", "zh", "ja")} == {"e5"}
    emb = service.embeddings
    assert isinstance(emb, LocalEmbeddings) and emb.parts == (384, 384)
    english = np.asarray(emb.embed_query_with("how long is the warranty", "minilm"))
    assert np.allclose(english[384:], 0.0) and np.isclose(np.linalg.norm(english[:384]), 1.0)


def test_a_query_in_one_part_scores_that_encoders_cosine() -> None:
    rng = np.random.default_rng(0)
    a, b, q = (rng.normal(size=4) for _ in range(3))
    stored = unit(np.concatenate([a, b]), (4, 4))
    query = unit(np.concatenate([q, np.zeros(4)]), (4, 4))
    cosine = float(a @ q / np.linalg.norm(a) / np.linalg.norm(q))
    assert float(stored @ query) == pytest.approx(cosine, abs=1e-6)


def test_a_german_question_is_answered_from_the_german_translation(service) -> None:
    answer = service.answer("Wie viele Tage habe ich für eine Rücksendung?", "de")
    assert answer.answer_type in ("kb", "suggest")
    assert answer.sources[0]["path"] == "returns.de.md"
    assert "Rücksend" in answer.text or "zurücksenden" in answer.text
    assert answer.language == answer.quoted_language == "de"
    assert phrase("english_passage", "de") not in answer.text


def test_translations_never_compete_as_two_answers(service) -> None:
    hits = service.retriever.search("Rücksendung 30 Tage", language="de")
    assert [h.group for h in hits].count("returns.md") == 1
    english = service.retriever.search("return within 30 days", language="en")
    assert [h.path for h in english if h.group == "returns.md"] == ["returns.md"]


def test_a_french_question_gets_the_english_passage_introduced_in_french(service) -> None:
    answer = service.answer("Quelle est la durée de la garantie ?", "fr")
    assert answer.sources and answer.sources[0]["path"] == "warranty.md"
    # Answered, or suggested (the suggestion's own line first); either way introduced in French.
    lines = answer.text.splitlines()
    intro = other_language_intro("en", "fr")
    assert intro == phrase("english_passage", "fr")
    assert lines[0] == intro if answer.answer_type == "kb" else lines[1] == intro
    assert answer.answer_type == "kb" or lines[0].startswith(phrase("suggest_intro", "fr")[:20])
    assert "2-year" in answer.text
    assert answer.language == "fr" and answer.quoted_language == "en"


def test_an_english_question_finds_a_fact_only_a_german_article_has(service) -> None:
    answer = service.answer("Can my parcel be delivered to a DHL Packstation?", "en")
    assert answer.sources and answer.sources[0]["path"] == "packstation.de.md"
    assert answer.text.splitlines()[0] == phrase(
        "other_language_passage", "en", language=phrase("name_de", "en")
    )
    assert "Packstation" in answer.text


def test_the_bot_says_it_does_not_know_in_the_customers_language(service) -> None:
    for lang in ("de", "es", "fr", "zh", "ja"):
        answer = service.answer("<b></b>", lang)  # nothing left to answer after cleaning
        assert answer.answer_type == "abstain"
        assert answer.text == phrase("abstain", lang) != phrase("abstain", "en")
    # Without a language, the message's own decides.
    assert service.answer("<p>", None).text == phrase("abstain", "en")
