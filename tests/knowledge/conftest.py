"""Fixtures: real temp-dir Chroma indexes over small article folders."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.service import KnowledgeService
from knowledge.settings import KnowledgeSettings

SAMPLE_ARTICLES = Path(__file__).resolve().parents[2] / "knowledge" / "articles"


def article(title: str, body: str, url: str = "https://help.example/x", **extra: str) -> str:
    lines = ["---", f"title: {title}", f"url: {url}"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n---\n\n" + body.strip() + "\n"


def settings_for(folder: Path, state: Path, **overrides: object) -> KnowledgeSettings:
    base = KnowledgeSettings(
        knowledge_dir=folder, state_dir=state, watch=False, collection=f"t{abs(hash(state))}"
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., KnowledgeService]]:
    made: list[KnowledgeService] = []

    def make(folder: Path, **overrides: object) -> KnowledgeService:
        svc = KnowledgeService(settings_for(folder, tmp_path / "state", **overrides))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.stop()


@pytest.fixture(scope="session")
def sample_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeService]:
    """The shipped sample knowledge base, indexed once for the session."""
    root = tmp_path_factory.mktemp("sample")
    folder = root / "articles"
    shutil.copytree(SAMPLE_ARTICLES, folder)
    svc = KnowledgeService(settings_for(folder, root / "state"))
    svc.sync()
    yield svc
    svc.stop()
