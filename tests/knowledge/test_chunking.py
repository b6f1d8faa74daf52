from __future__ import annotations

from knowledge.articles import parse_article
from knowledge.chunking import MAX_WORDS, chunk_article
from tests.knowledge.conftest import article

BODY = """
# Shipping

Intro sentence about shipping.

## Europe

EU parcels take 2-5 days. They cost €6.95.

### Express

Express takes 1 day.

## United Kingdom

UK parcels take 3-6 days. <b>Customs</b> apply <script>alert(1)</script>above £135.
"""


def chunks_of(body: str, title: str = "Shipping"):
    art, _ = parse_article("shipping.md", article(title, body).encode())
    assert art is not None
    return chunk_article(art)


def test_chunks_follow_headings_and_keep_article_fields() -> None:
    chunks = chunks_of(BODY)
    title, *passages = chunks
    assert title.kind == "title" and title.text == "Shipping"
    assert [(c.heading, c.text.split(".")[0]) for c in passages] == [
        ("", "Intro sentence about shipping"),
        ("Europe", "EU parcels take 2-5 days"),
        ("Europe > Express", "Express takes 1 day"),
        ("United Kingdom", "UK parcels take 3-6 days"),
    ]
    for c in chunks:
        assert c.path == "shipping.md" and c.url == "https://help.example/x"
        assert c.title == "Shipping" and len(c.content_hash) == 16
    assert passages[1].embed_text.startswith("Shipping: Europe\n")


def test_html_is_not_passed_through() -> None:
    uk = chunks_of(BODY)[-1]
    assert "<" not in uk.text and "alert" not in uk.text
    assert "Customs apply" in uk.text


def test_ids_are_stable_and_only_edited_sections_change() -> None:
    before = chunks_of(BODY)
    assert [c.id for c in before] == [c.id for c in chunks_of(BODY)]
    after = chunks_of(BODY.replace("Express takes 1 day.", "Express takes 2 days."))
    changed = {c.id for c in after} - {c.id for c in before}
    assert len(changed) == 1
    assert len({c.id for c in before}) == len(before)


def test_long_sections_are_split_below_the_word_limit() -> None:
    long = " ".join(f"Sentence number {i} is here." for i in range(200))
    passages = chunks_of(f"## Long\n\n{long}")[1:]
    assert len(passages) > 1
    assert all(len(c.text.split()) <= MAX_WORDS for c in passages)
    assert all(c.heading == "Long" for c in passages)
    joined = " ".join(c.text for c in passages)
    assert joined.split() == long.split()
