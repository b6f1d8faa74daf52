"""The retriever's lexical cross-check, its in-memory search and its catalogue updates."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.text import stem, terms
from tests.knowledge.conftest import article

EARBUDS = article(
    "Pulse earbuds",
    "## The earbuds do not pair\n\nPut both earbuds in the charging case and hold the button "
    "for 3 seconds.\n\n## The earbuds do not charge\n\nClean the charging contacts in the case "
    "with a dry cotton swab.\n\n## Case light colours\n\nGreen means more than 50% battery.",
    tags="[earbuds, bluetooth]",
)
WARRANTY = article(
    "Warranty", "## How long is the warranty?\n\nElectronics have a 2-year warranty."
)
SHIPPING = article("Shipping", "## Costs\n\nStandard delivery to Germany costs 6.95 euros.")


def write_kb(root: Path) -> Path:
    kb = root / "kb"
    kb.mkdir()
    for name, text in (("earbuds.md", EARBUDS), ("warranty.md", WARRANTY), ("ship.md", SHIPPING)):
        (kb / name).write_text(text, encoding="utf-8")
    return kb


def test_terms_drop_function_words_and_match_word_forms() -> None:
    assert terms("My earbuds won't charge!") == terms("charging the earbud")
    assert terms("Which currencies can I pay in?") == {stem("currency"), "pay"}
    assert terms("how do I get it?") == frozenset()
    assert stem("deliveries") == stem("delivery") == stem("delivered")


def test_a_heading_that_names_the_problem_picks_the_passage(tmp_path: Path, make_service) -> None:
    svc = make_service(write_kb(tmp_path))
    svc.sync()
    [hit] = [h for h in svc.retriever.search("my earbuds won't charge") if h.path == "earbuds.md"]
    assert hit.passages[0].heading == "The earbuds do not charge"
    assert "charging contacts" in svc.answer("my earbuds won't charge").text


def test_missing_topic_words_lower_the_score(tmp_path: Path, make_service) -> None:
    svc = make_service(write_kb(tmp_path))
    svc.sync()
    answerable = svc.retriever.search("what do the colours of the earbuds case light mean")[0]
    unknown = svc.retriever.search("what is the bluetooth range of the earbuds")[0]
    assert answerable.path == unknown.path == "earbuds.md"
    assert answerable.coverage == pytest.approx(1.0)
    assert unknown.coverage < 0.75  # "range" is nowhere in the knowledge base
    svc.retriever.lexical_weight = 0.0
    dense_gap = (
        svc.retriever.search("what do the colours of the earbuds case light mean")[0].score
        - svc.retriever.search("what is the bluetooth range of the earbuds")[0].score
    )
    svc.retriever.lexical_weight = 0.3
    assert answerable.score - unknown.score > dense_gap


def test_memory_and_vector_store_searches_agree(tmp_path: Path, make_service) -> None:
    svc = make_service(write_kb(tmp_path))
    svc.sync()
    questions = ["earbuds not charging", "warranty length", "shipping to germany"]
    in_memory = {q: svc.retriever.search(q) for q in questions}
    assert svc.retriever._catalogue.chunk_matrix is not None

    from knowledge.retriever import Retriever

    store_only = Retriever(
        svc.store, svc.manifest, svc.embeddings, svc.settings.title_weight, memory_limit=0
    )
    for q in questions:
        hits = store_only.search(q)
        assert store_only._catalogue.chunk_matrix is None
        assert [h.path for h in hits] == [h.path for h in in_memory[q]]
        for a, b in zip(hits, in_memory[q], strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)
            assert a.passages[0].id == b.passages[0].id


def test_the_catalogue_follows_edits_and_deletions(tmp_path: Path, make_service) -> None:
    kb = write_kb(tmp_path)
    svc = make_service(kb)
    svc.sync()
    (kb / "warranty.md").write_text(WARRANTY.replace("2-year", "3-year"), encoding="utf-8")
    (kb / "ship.md").unlink()
    svc.sync()
    cat = svc.retriever._catalogue
    assert {c.path for c in cat.chunks.values()} == {"earbuds.md", "warranty.md"}
    assert sorted(cat.paths) == ["earbuds.md", "warranty.md"]
    assert len(cat.chunk_ids) == len(cat.chunks) == 4
    assert stem("germany") not in cat.df and cat.df[stem("warranty")] == 2  # title + passage
    [hit] = [h for h in svc.retriever.search("how long is the warranty") if h.path == "warranty.md"]
    assert "3-year" in hit.passages[0].text
