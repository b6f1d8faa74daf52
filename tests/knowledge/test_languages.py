"""Languages: detection, lexical terms, sentence splitting and the phrase catalogue."""

from __future__ import annotations

import string

import pytest
from parley_shared import language
from parley_shared.phrases import CATALOGUE, PhraseCatalogueError, catalogue, phrase

from knowledge.chunking import split_sentences
from knowledge.text import terms, word_count


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Guten Tag!", "de"),
        ("Ich möchte mit einem Menschen sprechen", "de"),
        ("merci beaucoup !", "fr"),
        ("Où est ma commande ?", "fr"),
        ("¿Dónde está mi pedido?", "es"),
        ("hola", "es"),
        ("where is my order", "en"),
        ("配送需要多长时间？", "zh"),
        ("返品したいです", "ja"),
        ("注文をキャンセルできますか", "ja"),
    ],
)
def test_the_message_says_its_language(text: str, expected: str) -> None:
    assert language.detect(text) == expected


def test_short_or_ambiguous_messages_keep_the_conversation_language() -> None:
    assert language.detect("ok", current="de") == "de"
    assert language.detect("no", hint="es") == "es"
    assert language.detect("12345", current="fr") == "fr"
    # A clear message in another language switches, whatever the widget says.
    assert language.detect("Where is my order? It has been two weeks.", hint="de") == "en"


def test_language_tags_are_normalised() -> None:
    assert language.normalise("de-AT") == "de"
    assert language.normalise("zh-Hans-CN") == "zh"
    assert language.normalise("JA") == "ja"
    assert language.normalise("pt-BR") is None
    assert language.normalise(None) is None


def test_terms_are_stemmed_in_the_message_language() -> None:
    assert terms("Wie lange dauert der Versand?", "de") & terms("Versandkosten und Versand", "de")
    assert "versand" in terms("Versand nach Österreich", "de")
    assert terms("¿Cuánto cuesta el envío?", "es") & terms("Costes de envío", "es")
    assert terms("Combien coûte la livraison ?", "fr") & terms("Livraisons et coûts", "fr")
    # Function words of each language are dropped.
    assert not terms("der die das und ist", "de")


def test_chinese_and_japanese_become_character_pairs() -> None:
    zh = terms("配送需要多长时间？", "zh")
    assert {"配送", "时间"} <= zh
    ja = terms("返品したいのですが、送料はかかりますか？", "ja")
    assert {"返品", "送料"} <= ja
    assert not any(len(t) == 2 and all("\u3040" <= c <= "\u309f" for c in t) for t in ja)


def test_one_sentence_splitter_for_all_six_languages() -> None:
    assert split_sentences("Returns take 30 days. Refunds follow! Is that ok? Yes.") == [
        "Returns take 30 days.",
        "Refunds follow!",
        "Is that ok?",
        "Yes.",
    ]
    assert split_sentences("Sie haben 30 Tage. Österreich ist inbegriffen.") == [
        "Sie haben 30 Tage.",
        "Österreich ist inbegriffen.",
    ]
    assert split_sentences("Tiene 30 días. ¿Puedo devolverlo? Sí.") == [
        "Tiene 30 días.",
        "¿Puedo devolverlo?",
        "Sí.",
    ]
    assert split_sentences("配送需要3到5个工作日。周末不发货！有问题吗？") == [
        "配送需要3到5个工作日。",
        "周末不发货！",
        "有问题吗？",
    ]
    assert split_sentences("返品は30日以内です。送料は無料です。") == [
        "返品は30日以内です。",
        "送料は無料です。",
    ]
    # Abbreviations followed by a lower-case word stay whole.
    assert split_sentences("Use e.g. the app. Then wait.") == ["Use e.g. the app.", "Then wait."]


def test_word_budgets_count_chinese_and_japanese() -> None:
    assert word_count("three short words") == 3
    assert word_count("返品は三十日以内です") == 5


def test_every_phrase_exists_in_all_six_languages_with_the_same_placeholders() -> None:
    def fields(text: str) -> set[str]:
        return {n for _, n, _, _ in string.Formatter().parse(text) if n}

    table = catalogue()
    for key, by_lang in table.items():
        assert set(by_lang) == set(language.SUPPORTED), key
        english = by_lang["en"]
        expected = fields(english["other"] if isinstance(english, dict) else english)
        for lang, text in by_lang.items():
            for form in text.values() if isinstance(text, dict) else [text]:
                assert fields(form) == expected, (key, lang)
    assert phrase("suggest_intro", "de", title="Rücksendung").count("Rücksendung") == 1
    assert phrase("abstain", "xx") == phrase("abstain", "en")  # unknown language: English


def test_a_broken_catalogue_is_named(tmp_path) -> None:
    bad = tmp_path / "phrases.yml"
    bad.write_text("abstain:\n  de: 'Hallo {name}'\n", encoding="utf-8")
    with pytest.raises(PhraseCatalogueError, match="English"):
        catalogue(bad)
    bad.write_text("joined:\n  en: '{name} joined'\n  de: 'ist da'\n", encoding="utf-8")
    with pytest.raises(PhraseCatalogueError, match="placeholders"):
        catalogue(bad)
    assert CATALOGUE.exists()
