"""The bot's fixed replies by language, from phrases.yml beside this file (English is the
fallback). Shared because Rasa sends one of them itself: the AI disclosure.

A text with a number in it ("wait {count} seconds") is given in each language by CLDR plural
category (one, few, many, other...); Babel's CLDR data picks the category for the number and
writes the number the language's way (5,000 / 5.000 / 5 000). `count` is always the
placeholder that holds the number, as in Rails' and i18next's catalogues.

Read once per process; `phrase` never fails on a missing key or language: it falls back to
English, so a partly translated catalogue still answers.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path
from typing import Any

import yaml
from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal

from parley_shared.language import DEFAULT

CATALOGUE = Path(__file__).with_name("phrases.yml")
COUNT = "count"
OTHER = "other"  # the category every language has; used for any category a text leaves out

# A language's text: one string, or (for a text with a number) a string per plural category.
Text = str | dict[str, str]


class PhraseCatalogueError(RuntimeError):
    """The phrase catalogue is missing or malformed; the message names the problem."""


@functools.cache
def catalogue(path: Path = CATALOGUE) -> dict[str, dict[str, Text]]:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PhraseCatalogueError(f"{path}: cannot be read ({exc})") from exc
    if not isinstance(data, dict):
        raise PhraseCatalogueError(f"{path}: expected key: {{en: ..., de: ...}} entries")
    out: dict[str, dict[str, Text]] = {}
    for key, by_lang in data.items():
        english = by_lang.get(DEFAULT) if isinstance(by_lang, dict) else None
        if not isinstance(english, str | dict):
            raise PhraseCatalogueError(f"{path}: '{key}' needs at least an English ('en') text")
        counted = isinstance(english, dict)
        fields = _fields(_forms(path, key, DEFAULT, english, counted).get(OTHER, ""))
        if counted and COUNT not in fields:
            raise PhraseCatalogueError(
                f"{path}: '{key}' has plural forms, so its texts need the {{{COUNT}}} placeholder"
            )
        for lang, text in by_lang.items():
            for form in _forms(path, key, str(lang), text, counted).values():
                if _fields(form) != fields:
                    raise PhraseCatalogueError(
                        f"{path}: '{key}' in '{lang}' must be text with the placeholders "
                        f"{sorted(fields) or 'none'} of the English one"
                    )
        out[str(key)] = {str(lang): text for lang, text in by_lang.items()}
    return out


def _forms(path: Path, key: object, lang: str, text: object, counted: bool) -> dict[str, str]:
    """A language's text as {plural category: text}, checked against the language's CLDR
    categories: an entry either counts in every language or in none."""
    where = f"{path}: '{key}' in '{lang}'"
    if isinstance(text, str):
        if counted and plural_categories(lang, where) != {OTHER}:
            raise PhraseCatalogueError(
                f"{where} needs a text for each plural form "
                f"({', '.join(sorted(plural_categories(lang, where)))})"
            )
        return {OTHER: text}
    if not isinstance(text, dict) or not all(isinstance(t, str) for t in text.values()):
        raise PhraseCatalogueError(f"{where} must be text (or plural forms: one: ..., other: ...)")
    if not counted:
        raise PhraseCatalogueError(f"{where} has plural forms, but the English text has none")
    allowed = plural_categories(lang, where)
    unknown = set(text) - allowed
    if unknown or OTHER not in text:
        raise PhraseCatalogueError(
            f"{where}: plural forms must include '{OTHER}' and be among "
            f"{', '.join(sorted(allowed))} (got {', '.join(sorted(map(str, text)))})"
        )
    return {str(k): v for k, v in text.items()}


def plural_categories(lang: str, where: str = "") -> set[str]:
    """The CLDR plural categories `lang` distinguishes for numbers (always 'other')."""
    try:
        return set(_locale(lang).plural_form.tags) | {OTHER}
    except (UnknownLocaleError, ValueError) as exc:
        raise PhraseCatalogueError(f"{where or lang}: not a known language code") from exc


@functools.cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def plural_category(lang: str, number: float) -> str:
    """CLDR's plural category of `number` in `lang`: plural_category("fr", 0) == "one"."""
    return str(_locale(lang).plural_form(number))


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def phrase(key: str, language: str | None = None, /, **values: object) -> str:
    """The text of `key` in `language` (English when it has no translation), its
    placeholders filled from `values`; a text with plural forms takes the number as
    `count`, in the form that number needs."""
    by_lang = catalogue()[key]
    lang = language if language and by_lang.get(language) else DEFAULT
    text = by_lang[lang]
    forms = text if isinstance(text, dict) else {OTHER: text}  # zh, ja: one for every number
    if isinstance(by_lang[DEFAULT], dict):
        number = values.get(COUNT)
        if not isinstance(number, int | float) or isinstance(number, bool):
            raise TypeError(f"phrase '{key}' has plural forms: give the number as {COUNT}=")
        chosen = forms.get(plural_category(lang, number)) or forms[OTHER]
        values = {**values, COUNT: format_decimal(number, locale=lang)}
    else:
        chosen = forms[OTHER]
    return chosen.format(**values) if values else chosen
