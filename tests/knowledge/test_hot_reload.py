"""The running answerer follows edits in the knowledge folder without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.knowledge.conftest import article


def wait_for(check: Callable[[], bool], limit: float = 30.0) -> bool:
    # A generous limit only so a stuck watcher fails the test instead of hanging it;
    # the 2-second target is measured in bench/knowledge_scaling.py.
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_added_edited_and_removed_articles_are_served_live(tmp_path: Path, make_service) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "returns.md").write_text(
        article("Returns", "## Window\n\nYou can return items within 30 days.")
    )
    svc = make_service(folder)
    svc.start(watch=True)
    assert svc.ready.wait(30)

    def top(question: str) -> tuple[str, str]:
        hits = svc.retriever.search(question)
        if not hits or not hits[0].passages:
            return ("", "")
        return (hits[0].path, hits[0].passages[0].text)

    (folder / "gift-cards.md").write_text(
        article("Gift cards", "## Validity\n\nGift cards are valid for 3 years.")
    )
    assert wait_for(lambda: top("how long is a gift card valid")[0] == "gift-cards.md")

    (folder / "gift-cards.md").write_text(
        article("Gift cards", "## Validity\n\nGift cards are valid for 5 years.")
    )
    assert wait_for(lambda: "5 years" in top("how long is a gift card valid")[1])

    (folder / "gift-cards.md").unlink()
    assert wait_for(lambda: top("how long is a gift card valid")[0] == "returns.md")

    # A broken save is reported and the last good version stays served.
    (folder / "returns.md").write_text("---\ntitle: [broken\n---\nBody\n")
    assert wait_for(lambda: bool(svc.last_report and svc.last_report.errors))
    assert top("can I return an item")[0] == "returns.md"
