from __future__ import annotations

from pathlib import Path

import pytest

from tests.knowledge.conftest import article

RETURNS = article("Returns", "## Window\n\nYou can return items within 30 days of delivery.")
WARRANTY = article("Warranty", "## Length\n\nElectronics have a 2-year warranty.")
GIFTS = article("Gift cards", "## Validity\n\nGift cards are valid for 3 years.")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def top_path(svc, question: str) -> str:
    hits = svc.retriever.search(question)
    return hits[0].path if hits else ""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    write(kb, "returns.md", RETURNS)
    write(kb, "warranty.md", WARRANTY)
    return kb


def test_first_run_indexes_everything_second_run_nothing(folder: Path, make_service) -> None:
    svc = make_service(folder)
    first = svc.sync()
    assert sorted(first.indexed) == ["returns.md", "warranty.md"]
    assert first.embedded_chunks == 4  # a title record and one passage per article
    second = svc.sync()
    assert second.indexed == [] and second.embedded_chunks == 0 and second.unchanged == 2
    assert second.generation == first.generation
    assert top_path(svc, "how long is the warranty?") == "warranty.md"


def test_only_the_changed_file_is_re_embedded(folder: Path, make_service) -> None:
    svc = make_service(folder)
    svc.sync()
    write(folder, "warranty.md", WARRANTY.replace("2-year", "3-year"))
    report = svc.sync()
    assert report.indexed == ["warranty.md"]
    assert report.embedded_chunks == 1  # the title record is unchanged
    [hit] = [h for h in svc.retriever.search("warranty length") if h.path == "warranty.md"]
    assert "3-year" in hit.passages[0].text
    assert len(svc.store.get()["ids"]) == 4  # the old passage left the store


def test_deleted_and_renamed_files_leave_the_index(folder: Path, make_service) -> None:
    svc = make_service(folder)
    svc.sync()
    (folder / "returns.md").rename(folder / "returns-policy.md")
    (folder / "warranty.md").unlink()
    report = svc.sync()
    assert report.removed == ["returns.md", "warranty.md"]
    assert report.indexed == ["returns-policy.md"]
    paths = {m["path"] for m in svc.store.get()["metadatas"]}
    assert paths == {"returns-policy.md"}
    assert [h.path for h in svc.retriever.search("return window")] == ["returns-policy.md"]


def test_bad_files_are_reported_and_the_rest_indexed(folder: Path, make_service) -> None:
    write(folder, "broken.md", "---\ntitle: Broken\nurl: [x\n---\nBody\n")
    (folder / "binary.md").write_bytes(b"\x00\x01\x02")
    svc = make_service(folder)
    report = svc.sync()
    assert sorted(report.indexed) == ["returns.md", "warranty.md"]
    assert {(e.path, e.line) for e in report.errors} >= {("binary.md", 1)}
    assert {e.path for e in report.errors} == {"broken.md", "binary.md"}


def test_a_file_that_breaks_keeps_its_last_good_version(folder: Path, make_service) -> None:
    svc = make_service(folder)
    svc.sync()
    write(folder, "returns.md", "---\ntitle: [oops\n---\nBody\n")
    report = svc.sync()
    assert [e.path for e in report.errors] == ["returns.md"]
    assert top_path(svc, "can I return an item after 30 days?") == "returns.md"


def test_interrupted_run_never_replaces_the_last_good_index(
    folder: Path, make_service, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_service(folder)
    svc.sync()
    generation = svc.manifest.generation()
    write(folder, "returns.md", RETURNS.replace("30 days", "60 days"))
    write(folder, "gifts.md", GIFTS)

    real_add = svc.store.add_texts
    calls = {"n": 0}

    def failing_add(*args, **kwargs):
        calls["n"] += 1
        real_add(*args, **kwargs)  # the vectors land in the store ...
        raise RuntimeError("disk full")  # ... but the run dies before the switch

    monkeypatch.setattr(svc.store, "add_texts", failing_add)
    with pytest.raises(RuntimeError):
        svc.sync()
    assert calls["n"] == 1
    assert svc.manifest.generation() == generation
    # Still the old version, and the new article is not half-served.
    [hit] = [h for h in svc.retriever.search("return window days") if h.path == "returns.md"]
    assert "30 days" in hit.passages[0].text
    assert "gifts.md" not in {h.path for h in svc.retriever.search("gift card validity")}

    monkeypatch.setattr(svc.store, "add_texts", real_add)
    report = svc.sync()
    assert sorted(report.indexed) == ["gifts.md", "returns.md"]
    [hit] = [h for h in svc.retriever.search("return window days") if h.path == "returns.md"]
    assert "60 days" in hit.passages[0].text
    # No orphans: title+passage for 3 articles.
    assert len(svc.store.get()["ids"]) == 6
