"""The watcher's path touches only the files it is told about, however big the folder is."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import indexer as indexer_module
from knowledge import retriever as retriever_module
from knowledge.retriever import MEMORY_LIMIT, ArticleHit, Retriever
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


QUESTIONS = ["how long is the warranty", "return window", "gift card validity", "lamp colour"]


def filler(folder: Path, n: int) -> None:
    for i in range(n):
        body = f"## Colour {i}\n\nLamp model {i} comes in {i % 5} colours and {i * 3} sizes."
        write(folder, f"lamp-{i:02d}.md", article(f"Lamp {i}", body))


def summary(hits: list[ArticleHit]) -> list[tuple[str, str, float, list[str]]]:
    return [(h.path, h.version, round(h.score, 5), [p.id for p in h.passages]) for h in hits]


def from_scratch(svc, memory_limit: int) -> dict[str, list[tuple[str, str, float, list[str]]]]:
    """What a retriever that reads the whole index now answers."""
    fresh = Retriever(
        svc.store,
        svc.manifest,
        svc.embeddings,
        svc.settings.title_weight,
        memory_limit=memory_limit,
    )
    return {q: summary(fresh.search(q)) for q in QUESTIONS}


def answers(retriever: Retriever) -> dict[str, list[tuple[str, str, float, list[str]]]]:
    return {q: summary(retriever.search(q)) for q in QUESTIONS}


def with_retriever(svc, memory_limit: int) -> None:
    svc.retriever = Retriever(
        svc.store,
        svc.manifest,
        svc.embeddings,
        svc.settings.title_weight,
        memory_limit=memory_limit,
    )


def spy_on_reads(monkeypatch: pytest.MonkeyPatch, store) -> list[str]:
    """Ids the store is asked for; a filtered read (a scan of the collection) fails."""
    asked: list[str] = []
    real = store.get

    def get(*args: object, **kwargs: object):
        assert "where" not in kwargs and not args, f"a filtered store read: {kwargs}"
        asked.extend(kwargs["ids"])  # type: ignore[arg-type]
        return real(**kwargs)

    monkeypatch.setattr(store, "get", get)
    return asked


@pytest.mark.parametrize("memory_limit", [MEMORY_LIMIT, 0], ids=["in-memory", "store"])
def test_a_refresh_after_an_edit_reads_only_the_changed_files(
    folder: Path, make_service, monkeypatch: pytest.MonkeyPatch, memory_limit: int
) -> None:
    filler(folder, 20)
    svc = make_service(folder)
    with_retriever(svc, memory_limit)
    svc.sync()
    before = answers(svc.retriever)
    old = svc.retriever._catalogue
    # Comparing every path or rebuilding the catalogue now fails the test, and the store may
    # only be asked for the changed files' records, by id.
    forbid(monkeypatch, retriever_module, "_changed_paths")
    forbid(monkeypatch, retriever_module._Catalogue, "build")
    asked = spy_on_reads(monkeypatch, svc.store)

    write(folder, "warranty.md", article("Warranty", "## Length\n\nElectronics: 3-year warranty."))
    svc.sync(only=["warranty.md"])
    assert svc.retriever._catalogue is not old
    assert set(asked) <= set(svc.manifest.live_set().chunks["warranty.md"])
    [hit] = [h for h in svc.retriever.search("warranty length") if h.path == "warranty.md"]
    assert "3-year" in hit.passages[0].text
    # A search that took the old catalogue before the swap still sees the old index whole
    # (passages read from the store are not: a local index deletes them after the switch).
    for q, hits in before.items():
        if old.chunk_matrix is not None:
            assert summary(svc.retriever._search(old, q, 5, None)) == hits

    asked.clear()
    (folder / "gifts.md").unlink()
    (folder / "returns.md").rename(folder / "returns-policy.md")
    svc.sync(only=["gifts.md", "returns.md", "returns-policy.md"])
    assert set(asked) <= set(svc.manifest.live_set().chunks["returns-policy.md"])
    assert "gifts.md" not in {h.path for h in svc.retriever.search("gift card validity")}
    [top, *_] = svc.retriever.search("return window")
    assert top.path == "returns-policy.md" and "30 days" in top.passages[0].text
    assert not {"gifts.md", "returns.md"} & {
        h.path for q in QUESTIONS for h in svc.retriever.search(q)
    }

    monkeypatch.undo()
    assert answers(svc.retriever) == from_scratch(svc, memory_limit)


def test_compaction_and_another_writer_give_what_a_full_read_gives(
    folder: Path, make_service, monkeypatch: pytest.MonkeyPatch
) -> None:
    filler(folder, 6)
    svc = make_service(folder)
    svc.sync()
    # Compact as soon as replaced records outnumber half the live ones; merge word counts
    # on every refresh.
    monkeypatch.setattr(retriever_module, "COMPACT_SLACK", 0)
    monkeypatch.setattr(retriever_module, "DF_MERGE", 0)
    builds = 0
    real_build = retriever_module._Catalogue.build

    def build(*args: object, **kwargs: object) -> retriever_module._Catalogue:
        nonlocal builds
        builds += 1
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(retriever_module._Catalogue, "build", build)
    for round_ in range(4):
        names = [f"lamp-{i:02d}.md" for i in range(6)]
        for i, name in enumerate(names):
            body = f"## Colour {i}\n\nLamp model {i} now comes in {i + round_} colours."
            write(folder, name, article(f"Lamp {i}", body))
        svc.sync(only=names)
        assert answers(svc.retriever) == from_scratch(svc, MEMORY_LIMIT)
    assert builds >= 1

    # The CLI in another process indexes: this manifest cannot say what changed.
    other = Manifest(svc.manifest.db_path)
    write(folder, "gifts.md", article("Gift cards", "## Validity\n\nGift cards last 5 years."))
    indexer_module.Indexer(folder, svc.store, other, svc.settings.index_dir).sync(only=["gifts.md"])
    assert svc.manifest.changes_since(svc.retriever._generation) is None
    assert svc.retriever.refresh()
    [hit] = [h for h in svc.retriever.search("gift card validity") if h.path == "gifts.md"]
    assert "5 years" in hit.passages[0].text
    assert answers(svc.retriever) == from_scratch(svc, MEMORY_LIMIT)
