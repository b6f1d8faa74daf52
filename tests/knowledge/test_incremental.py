"""The watcher's path touches only the files it is told about, however big the folder is."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import indexer as indexer_module
from knowledge.store import FileEntry, Manifest
from tests.knowledge.conftest import article


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    kb.mkdir()
    write(kb, "returns.md", article("Returns", "## Window\n\nReturn items within 30 days."))
    write(kb, "warranty.md", article("Warranty", "## Length\n\nElectronics: 2-year warranty."))
    write(kb, "gifts.md", article("Gift cards", "## Validity\n\nGift cards last 3 years."))
    return kb


def forbid(monkeypatch: pytest.MonkeyPatch, obj: object, name: str) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the watcher's path called {name}")

    monkeypatch.setattr(obj, name, refuse)


def test_edit_delete_and_rename_by_name_never_read_the_whole_folder_or_manifest(
    folder: Path, make_service, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_service(folder)
    svc.sync()
    svc.retriever.search("warranty")  # the live set is in memory from here on
    # Anything that lists the folder or reads every manifest row now fails the test.
    forbid(monkeypatch, indexer_module, "list_article_files")
    forbid(monkeypatch, svc.manifest, "files")
    forbid(monkeypatch, svc.manifest, "_load_live")

    write(folder, "warranty.md", article("Warranty", "## Length\n\nElectronics: 3-year warranty."))
    report = svc.sync(only=["warranty.md"])
    assert report.indexed == ["warranty.md"] and report.scanned == 1
    [hit] = [h for h in svc.retriever.search("warranty length") if h.path == "warranty.md"]
    assert "3-year" in hit.passages[0].text

    (folder / "gifts.md").unlink()
    (folder / "returns.md").rename(folder / "returns-policy.md")
    report = svc.sync(only=["gifts.md", "returns.md", "returns-policy.md"])
    assert report.removed == ["gifts.md", "returns.md"]
    assert report.indexed == ["returns-policy.md"]
    paths = {m["path"] for m in svc.store.get()["metadatas"]}
    assert paths == {"returns-policy.md", "warranty.md"}
    assert "gifts.md" not in {h.path for h in svc.retriever.search("gift card validity")}
    assert {h.path for h in svc.retriever.search("return window")} == {
        "returns-policy.md",
        "warranty.md",
    }

    monkeypatch.undo()  # what memory says is what SQLite says
    fresh = Manifest(svc.manifest.db_path)
    assert fresh.live() == svc.manifest.live()


def entry(path: str, version: str, *ids: str) -> FileEntry:
    return FileEntry(path, version, path, "", "", ids, 1, 1)


def test_the_live_set_follows_own_commits_and_rereads_after_another_writer(
    tmp_path: Path,
) -> None:
    db = tmp_path / "manifest.sqlite"
    mine, other = Manifest(db), Manifest(db)  # `other` stands for the CLI in another process
    mine.commit([entry("a.md", "v1", "a1", "a2"), entry("b.md", "v1", "b1")], [], [])
    assert mine.live() == ({"a.md": "v1", "b.md": "v1"}, {"a1", "a2", "b1"})
    start = mine.live_set().generation

    before = mine.live_set()
    mine.commit([entry("a.md", "v2", "a1", "a3")], ["b.md"], [])
    assert mine.live() == ({"a.md": "v2"}, {"a1", "a3"})
    assert before.ids == {"a1", "a2", "b1"}  # a reader's snapshot is never changed under it
    assert mine.changes_since(start) == {"a.md", "b.md"}
    assert mine.changes_since(start + 1) == frozenset()

    other.commit([entry("c.md", "v1", "c1")], [], [])
    assert mine.changes_since(start + 1) is None  # not this process's doing: re-read
    assert mine.live() == ({"a.md": "v2", "c.md": "v1"}, {"a1", "a3", "c1"})
    mine.commit([], ["c.md"], [])
    assert other.live() == ({"a.md": "v2"}, {"a1", "a3"})
