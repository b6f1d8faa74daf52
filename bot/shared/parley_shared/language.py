"""Which of the six supported languages a customer writes in.

Order of evidence: the script (kana means Japanese, other Han text Chinese), then a short
list of the one-word chat replies statistical identifiers get wrong ("danke", "oui", "hola"),
then langid.py restricted to English, German, Spanish and French. The widget's language and
the language the conversation already has win whenever the text is too short to say: "ok" or
"no" must not switch a German chat to English.

Only the standard library and langid (pure Python, model in the package) are imported, so the
Rasa environment uses this module too (bot/language_policy.py).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable

SUPPORTED = ("en", "de", "es", "fr", "zh", "ja")
DEFAULT = "en"
NAMES = {
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "zh": "Chinese",
    "ja": "Japanese",
}
_LATIN = ("en", "de", "es", "fr")
# langid's probability (normalised over the four) above which a text overrides the widget's
# or the conversation's language; below it the text is too ambiguous to switch.
SWITCH_AT = 0.9
# Fewer letters than this and only the script can switch the language.
MIN_LETTERS = 8
# langid's probability, or the word list's, above which a text overrides the widget's
# language (but not yet the conversation's: that takes SWITCH_AT).
HINT_SWITCH_AT = 0.8
SHORT_WORD_CONFIDENCE = 0.85
SHORT_ENGLISH_CONFIDENCE = 0.7

_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_WORDS = re.compile(r"[^\W\d_]+", re.UNICODE)

# Short replies that identify their language on their own (accents stripped, lower case).
# Words shared by two languages ("no", "ok", "merci" in some dialects) are left out.
_SHORT = {
    "de": "hallo servus moin guten danke dankeschon tschuss tschau ja nein genau bitte "
    "stimmt gerne vielen mensch mitarbeiter ich bist sind",
    "es": "hola gracias adios vale claro muchas buenas buenos dias hasta luego si eres "
    "quiero necesito persona humano",
    "fr": "bonjour bonsoir salut merci oui ouais daccord revoir non humain personne je vous",
    "en": "hi hello hey thanks thank thx bye goodbye yes yeah yep nope person human",
}
_SHORT_WORDS = {word: lang for lang, words in _SHORT.items() for word in words.split()}

_lock = threading.Lock()
_identifier = None


def normalise(code: object) -> str | None:
    """A supported language code from a tag like "de-AT", "zh-Hans-CN" or "JA"; else None."""
    if not isinstance(code, str) or not code.strip():
        return None
    base = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return base if base in SUPPORTED else None


def widget_language(metadata: object) -> str | None:
    """The widget's language from a message's metadata ({"language": "de", "locale": ...})."""
    if not isinstance(metadata, dict):
        return None
    for key in ("language", "locale", "lang"):
        found = normalise(metadata.get(key))
        if found:
            return found
    return None


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _langid():  # -> langid.langid.LanguageIdentifier
    global _identifier
    with _lock:
        if _identifier is None:
            from langid.langid import LanguageIdentifier, model

            ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
            ident.set_languages(list(_LATIN))
            _identifier = ident
        return _identifier


def warm() -> None:
    """Load langid's model now (a few seconds), not on the first message that needs it."""
    _langid()


def by_script(text: str) -> str | None:
    """ "ja" for text with kana, "zh" for Han characters without kana, else None."""
    if _KANA.search(text):
        return "ja"
    if _HAN.search(text):
        return "zh"
    return None


def identify(text: str) -> tuple[str | None, float]:
    """(language, confidence in [0, 1]) from the text alone; (None, 0.0) with no letters."""
    script = by_script(text)
    if script:
        return script, 1.0
    words = [_fold(w) for w in _WORDS.findall(text)]
    if not words:
        return None, 0.0
    letters = sum(len(w) for w in words)
    known = {_SHORT_WORDS[w] for w in words if w in _SHORT_WORDS}
    if len(known) == 1 and letters < 3 * MIN_LETTERS:
        # "danke" on an English page is German; "hi" or "ok" on a German page is not English
        # (people everywhere write them), and no short word switches a running chat.
        found = known.pop()
        return found, SHORT_WORD_CONFIDENCE if found != "en" else SHORT_ENGLISH_CONFIDENCE
    lang, prob = _langid().classify(text)
    if letters < MIN_LETTERS:
        prob = min(prob, 0.5)
    return str(lang), float(prob)


def detect(text: str, hint: object = None, current: object = None) -> str:
    """The language to answer in.

    `hint` is the widget's language (the page's or the customer's choice), `current` the
    conversation's language so far. With neither, the text decides; with one, only a text
    that is unambiguous switches away from it (the conversation's before the widget's).
    """
    running, page = normalise(current), normalise(hint)
    lang, confidence = identify(text or "")
    if lang is None:
        return running or page or DEFAULT
    if lang in ("zh", "ja") or confidence >= SWITCH_AT:
        return lang
    if running:
        return running
    if page is None or confidence >= HINT_SWITCH_AT:
        return lang
    return page


def majority(texts: Iterable[str]) -> str:
    """The language most of these texts are in (for a transcript), English when unsure."""
    counts: dict[str, int] = {}
    current: str | None = None
    for text in texts:
        current = detect(text, current=current)
        counts[current] = counts.get(current, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else DEFAULT
