from __future__ import annotations

from pathlib import Path

from knowledge.articles import load_folder, parse_article
from tests.knowledge.conftest import article


def test_front_matter_fields_are_read() -> None:
    text = article("Returns", "You have 30 days.", tags="[returns, refunds]", updated="2026-01-02")
    art, problems = parse_article("returns.md", text.encode())
    assert art is not None and problems == []
    assert art.title == "Returns"
    assert art.url == "https://help.example/x"
    assert art.tags == ("returns", "refunds")
    assert art.updated == "2026-01-02"
    assert art.body == "You have 30 days."
    assert len(art.content_hash) == 16


def test_broken_yaml_names_the_line() -> None:
    data = b"---\ntitle: Ok\nurl: [unclosed\n---\nBody\n"
    art, [err] = parse_article("bad.md", data)
    assert art is None
    assert err.path == "bad.md" and err.line in (3, 4)
    assert "front matter" in err.message
    assert str(err).startswith("bad.md:")


def test_unclosed_front_matter_is_an_error() -> None:
    art, [err] = parse_article("open.md", b"---\ntitle: x\nBody without end\n")
    assert art is None and err.line == 1 and "closing" in err.message


def test_not_utf8_names_the_line_of_the_bad_byte() -> None:
    data = article("Latin", "line one\nline two caf\xe9\n").encode("latin-1")
    art, [err] = parse_article("latin.md", data)
    assert art is None
    assert err.line == 7 and "UTF-8" in err.message


def test_empty_binary_and_bodyless_files_are_errors() -> None:
    assert parse_article("e.md", b"  \n")[0] is None
    art, [err] = parse_article("b.md", b"\x89PNG\r\n\x1a\n\x00\x00")
    assert art is None and "binary" in err.message
    art, [err] = parse_article("nobody.md", b"---\ntitle: T\n---\n\n")
    assert art is None and "no text" in err.message


def test_bad_url_is_an_error_missing_url_a_warning() -> None:
    art, [err] = parse_article("u.md", b"---\ntitle: T\nurl: help.example/x\n---\nBody\n")
    assert art is None and err.line == 3 and "https://" in err.message
    art, [warn] = parse_article("u.md", b"---\ntitle: T\n---\nBody\n")
    assert art is not None and "url" in warn.message


def test_plain_text_without_front_matter_takes_its_title_from_the_heading() -> None:
    art, warnings = parse_article("notes/gift-cards.txt", b"# Gift cards\n\nValid 3 years.\n")
    assert art is not None and art.title == "Gift cards"
    assert any("title" in w.message for w in warnings)


def test_folder_load_keeps_good_files_and_reports_bad_ones(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(article("Good", "Fine text."))
    (tmp_path / "bad.md").write_bytes(b"---\ntitle: [x\n---\nBody\n")
    (tmp_path / ".hidden.md").write_text(article("Hidden", "Skip me."))
    (tmp_path / "README.md").write_text("# How to edit\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    result = load_folder(tmp_path)
    assert [a.path for a in result.articles] == ["good.md"]
    assert [e.path for e in result.errors] == ["bad.md"]
