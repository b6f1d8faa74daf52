"""Phrases with a number in them: the plural form each language needs (CLDR's rules, through
Babel), and the number written the language's way."""

from __future__ import annotations

import pytest
from parley_shared.message_guard import too_fast_reply, too_long_reply
from parley_shared.phrases import PhraseCatalogueError, catalogue, phrase, plural_category

# (language, seconds, the words the wait must read as)
WAITS = [
    ("en", 1, "wait 1 second,"),
    ("en", 2, "wait 2 seconds,"),
    ("en", 0, "wait 0 seconds,"),
    ("en", 21, "wait 21 seconds,"),
    ("de", 1, "warten Sie 1 Sekunde und"),
    ("de", 2, "warten Sie 2 Sekunden und"),
    ("es", 1, "Espere 1 segundo y"),
    ("es", 2, "Espere 2 segundos y"),
    ("es", 0, "Espere 0 segundos y"),
    # French counts 0 and 1 (any number below 2) as singular.
    ("fr", 0, "patienter 0 seconde,"),
    ("fr", 1, "patienter 1 seconde,"),
    ("fr", 2, "patienter 2 secondes,"),
    # Chinese and Japanese have one form for every number.
    ("zh", 1, "请等待 1 秒"),
    ("zh", 2, "请等待 2 秒"),
    ("ja", 1, "1秒お待ちいただいて"),
    ("ja", 2, "2秒お待ちいただいて"),
]


@pytest.mark.parametrize(("lang", "seconds", "expected"), WAITS)
def test_the_wait_has_the_plural_form_of_its_language(
    lang: str, seconds: int, expected: str
) -> None:
    assert expected in too_fast_reply(seconds, lang)


def test_no_language_says_one_seconds() -> None:
    for lang in ("en", "de", "es", "fr"):
        singular, plural = too_fast_reply(1, lang), too_fast_reply(2, lang)
        assert singular.replace("1", "2") != plural, lang  # the word changes, not only the digit
    assert "1 seconds" not in too_fast_reply(1, "en")


# (language, limit, the limit as the text must write it)
LIMITS = [
    ("en", 5000, "the limit is 5,000 characters"),
    ("en", 1, "the limit is 1 character)"),
    ("de", 5000, "bei 5.000 Zeichen"),
    ("es", 5000, "de 5.000 caracteres"),
    ("es", 1, "de 1 carácter)"),
    ("es", 1_000_000, "de 1.000.000 de caracteres"),
    ("fr", 5000, "de 5\u202f000 caractères"),
    ("fr", 1, "de 1 caractère)"),
    ("fr", 1_000_000, "de 1\u202f000\u202f000 de caractères"),
    ("zh", 5000, "上限为 5,000 个字符"),
    ("ja", 5000, "上限は5,000文字です"),
]


@pytest.mark.parametrize(("lang", "limit", "expected"), LIMITS)
def test_the_character_limit_is_written_and_counted_the_languages_way(
    lang: str, limit: int, expected: str
) -> None:
    assert expected in too_long_reply(limit, lang)


def test_an_unknown_or_missing_language_gets_english_with_englishs_rules() -> None:
    assert too_fast_reply(1, "xx") == too_fast_reply(1, "en") == too_fast_reply(1)
    assert "wait 1 second," in too_fast_reply(1, None)
    assert plural_category("fr", 0) == "one" and plural_category("en", 0) == "other"


def test_a_counted_phrase_without_its_number_is_a_plain_error() -> None:
    with pytest.raises(TypeError, match="count="):
        phrase("messages_too_fast", "de")
    with pytest.raises(TypeError, match="count="):
        phrase("messages_too_fast", "de", seconds=3)


def test_every_counted_phrase_has_each_languages_forms(tmp_path) -> None:
    # The real catalogue loads; these are the mistakes its check names.
    assert isinstance(catalogue()["messages_too_fast"]["en"], dict)
    cases = {
        # English without plural forms in one language: the German one would always say
        # "Sekunden".
        "de: 'Bitte {count} Sekunden warten'": "plural form",
        # Russian-style 'few' is not a German category.
        "de:\n    one: '{count} Sekunde'\n    few: '{count} Sekunden'\n"
        "    other: '{count} Sekunden'": "among",
        "de:\n    one: '{count} Sekunde'": "'other'",
        "xx:\n    other: '{count} s'": "language code",
    }
    english = "wait:\n  en:\n    one: 'wait {count} second'\n    other: 'wait {count} seconds'\n"
    for i, (entry, message) in enumerate(cases.items()):
        bad = tmp_path / f"phrases{i}.yml"
        bad.write_text(english + "  " + entry + "\n", encoding="utf-8")
        with pytest.raises(PhraseCatalogueError, match=message):
            catalogue(bad)
    no_count = tmp_path / "no_count.yml"
    no_count.write_text("wait:\n  en:\n    one: 'a second'\n    other: 'seconds'\n")
    with pytest.raises(PhraseCatalogueError, match="count"):
        catalogue(no_count)
    one_text = tmp_path / "one_text.yml"
    one_text.write_text("hi:\n  en: 'Hello'\n  de:\n    one: 'Hallo'\n    other: 'Hallo'\n")
    with pytest.raises(PhraseCatalogueError, match="English text has none"):
        catalogue(one_text)
    # zh and ja have only 'other': one text is enough.
    fine = tmp_path / "fine.yml"
    fine.write_text(english + "  ja: '{count}秒'\n", encoding="utf-8")
    assert catalogue(fine)["wait"]["ja"] == "{count}秒"


def test_the_handoff_limit_says_minute_or_minutes() -> None:
    assert "in about 1 minute." in phrase("too_many_handoffs", "en", count=1)
    assert "in about 30 minutes." in phrase("too_many_handoffs", "en", count=30)
    assert "in etwa 1 Minute noch" in phrase("too_many_handoffs", "de", count=1)
    assert "environ 1 minute." in phrase("too_many_handoffs", "fr", count=1)
