from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.cli import main
from tests.knowledge.conftest import article


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_text(
        article(
            "Returns",
            "## Window\n\nYou can return items within 30 days of delivery.",
            url="https://help.example/returns",
        )
    )
    (kb / "broken.md").write_text(
        "---\ntitle: Broken\nurl: https://help.example/b\ntags: [x\n---\nHi\n"
    )
    return kb


def test_help_explains_the_commands(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("index", "check", "search", "watch"):
        assert command in out


def test_check_names_file_and_line_without_a_traceback(folder: Path, capsys) -> None:
    assert main(["check", "--dir", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "error:   broken.md:4: broken front matter" in out
    assert "1 articles OK, 1 with errors" in out
    assert "Traceback" not in out


def test_index_then_search_shows_ranked_passages_and_the_answer(
    folder: Path, tmp_path: Path, capsys
) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    assert main(["index", "--dir", str(folder), *state]) == 1  # one bad file
    out = capsys.readouterr().out
    assert "1 (re)indexed" in out and "broken.md:4" in out

    assert main(["search", "--dir", str(folder), *state, "how many days to return?"]) == 0
    out = capsys.readouterr().out
    assert "1. " in out and "Returns  [returns.md]" in out
    assert "Window: You can return items within 30 days of delivery." in out
    assert "The bot would answer (kb" in out and "https://help.example/returns" in out


def test_missing_folder_is_a_plain_error(tmp_path: Path, capsys) -> None:
    assert main(["check", "--dir", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().out
