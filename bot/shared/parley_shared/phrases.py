"""The bot's fixed replies by language, from phrases.yml beside this file (English is the
fallback). Shared because Rasa sends one of them itself: the AI disclosure.

Read once per process; `phrase` never fails on a missing key or language: it falls back to
English, so a partly translated catalogue still answers.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path
from typing import Any

import yaml

from parley_shared.language import DEFAULT

CATALOGUE = Path(__file__).with_name("phrases.yml")


class PhraseCatalogueError(RuntimeError):
    """The phrase catalogue is missing or malformed; the message names the problem."""


@functools.cache
def catalogue(path: Path = CATALOGUE) -> dict[str, dict[str, str]]:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PhraseCatalogueError(f"{path}: cannot be read ({exc})") from exc
    if not isinstance(data, dict):
        raise PhraseCatalogueError(f"{path}: expected key: {{en: ..., de: ...}} entries")
    out: dict[str, dict[str, str]] = {}
    for key, by_lang in data.items():
        if not isinstance(by_lang, dict) or not isinstance(by_lang.get(DEFAULT), str):
            raise PhraseCatalogueError(f"{path}: '{key}' needs at least an English ('en') text")
        english = _fields(by_lang[DEFAULT])
        for lang, text in by_lang.items():
            if not isinstance(text, str) or _fields(text) != english:
                raise PhraseCatalogueError(
                    f"{path}: '{key}' in '{lang}' must be text with the placeholders "
                    f"{sorted(english) or 'none'} of the English one"
                )
        out[str(key)] = {str(lang): text for lang, text in by_lang.items()}
    return out


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def phrase(key: str, language: str | None = None, /, **values: object) -> str:
    """The text of `key` in `language` (English when it has no translation), its
    placeholders filled from `values`."""
    by_lang = catalogue()[key]
    text = by_lang.get(language or DEFAULT) or by_lang[DEFAULT]
    return text.format(**values) if values else text
