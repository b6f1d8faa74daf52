"""Plain-text hygiene for customer questions and article text."""

from __future__ import annotations

import html
import re
import threading
from typing import Any

# Linear on any input: a comment or script/style block with no end runs to the end of the text
# (as in a browser), so the lazy scan for its end succeeds once instead of failing again from
# every later "<!--" (that made 20,000 characters of "<!--" cost a second).
_TAG = re.compile(
    r"<\s*(script|style)\b.*?(?:<\s*/\s*\1\s*>|\Z)|<!--.*?(?:-->|\Z)|<[^<>]{0,2000}>",
    re.S | re.I,
)
_SPACE = re.compile(r"[ \t\r\f\v]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Questions are cut before retrieval: the encoder reads at most 256 tokens anyway and a
# 20k-character message must not cost more than a short one.
MAX_QUESTION_CHARS = 1000
# The raw text is cut before any cleaning, with room for markup around the visible question.
RAW_CHARS_PER_QUESTION_CHAR = 8


def strip_html(text: str) -> str:
    """Drop tags (and script/style bodies), unescape entities, keep the visible text."""
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    # Entities may have produced new tags ("&lt;b&gt;"); never let them through either.
    text = _TAG.sub(" ", text)
    return text.replace("<", "‹").replace(">", "›")


def clean_question(text: str, limit: int = MAX_QUESTION_CHARS) -> str:
    text = (text or "")[: limit * RAW_CHARS_PER_QUESTION_CHAR]
    text = _CONTROL.sub(" ", strip_html(text))
    text = _SPACE.sub(" ", text).strip()
    return text[:limit]


def normalise_block(text: str) -> str:
    lines = [_SPACE.sub(" ", ln).strip() for ln in text.splitlines()]
    return "\n".join(ln for ln in lines).strip()


# Words that carry no topic: function words, question words and the verbs every question uses.
_STOP_TEXT = """
    a about above after again all also am an and any anything are as at be been before being
    both but by can could did didn do does doesn don done during each either else ever every
    few for from get gets getting got had has hasn have haven having he her here hers him his
    how however i if im in into is isn it its itself just know let like lot made make many me
    might more most much must my myself need needs no nor not now of off on once only or other
    our ours out over own please same shall she should so some something still such take tell
    than that the their them then there these they thing things this those through to too
    under until up upon us use used very want wants was wasn way we were weren what whats
    when where whether which while who whom whose why will with won would yes yet you your
    yours yourself
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


def stem(word: str) -> str:
    """A light English stemmer: enough to match "charges", "charging" and "charge".

    Kept for English instead of Snowball's: Snowball parts "delivered" ("deliv") from
    "delivery" ("deliveri"), words our customers' questions and articles mix all the time,
    and the answer benches were measured with this one."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3]
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    if (len(word) > 3 and word.endswith("e")) or (len(word) > 4 and word.endswith("y")):
        word = word[:-1]
    return word


# Lexical scoring by language: German, Spanish and French through their Snowball stemmers,
# English as above. Words are Unicode letter/digit runs; Chinese and Japanese have no spaces,
# so their text is read as overlapping character pairs (the bigram indexing Lucene's CJK
# analyser uses: no dictionary to ship, and as good as a segmenter for matching a question's
# words against a passage's).
_SNOWBALL = {"de": "german", "es": "spanish", "fr": "french"}
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ASCII_WORD = re.compile(r"[a-z0-9]+")
_ANY_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]+")
_KANA_ONLY = re.compile(r"^[\u3040-\u309f]+$")  # hiragana: particles and endings
_stemmers: dict[str, Any] = {}
_stops: dict[str, frozenset[str]] = {}
_tables_lock = threading.Lock()


def _stemmer(lang: str) -> Any:
    with _tables_lock:
        if lang not in _stemmers:
            import Stemmer

            _stemmers[lang] = Stemmer.Stemmer(_SNOWBALL[lang])
        return _stemmers[lang]


def stop_words(lang: str) -> frozenset[str]:
    """Function words of a language (our own list for English; stopwords-iso for the rest,
    without its numbers, which carry facts)."""
    if lang == "en" or lang not in _SNOWBALL and lang not in ("zh", "ja"):
        return STOP_WORDS
    with _tables_lock:
        if lang not in _stops:
            import stopwordsiso

            _stops[lang] = frozenset(
                w.lower() for w in stopwordsiso.stopwords(lang) if not any(c.isdigit() for c in w)
            )
        return _stops[lang]


def _cjk_pairs(run: str, stops: frozenset[str]) -> set[str]:
    if len(run) == 1:
        return set() if run in stops else {run}
    pairs = {run[i : i + 2] for i in range(len(run) - 1)}
    return {p for p in pairs if not _KANA_ONLY.match(p) and p not in stops}


def terms(text: str, lang: str = "en") -> frozenset[str]:
    """The topic words of a text, lower-cased and stemmed in its language (for lexical
    matching); Chinese and Japanese runs become character pairs whatever `lang` says."""
    lowered = text.lower()
    stops = stop_words(lang)
    found: set[str] = set()
    cjk_stops = stop_words("zh") | stop_words("ja") if _CJK.search(lowered) else frozenset()
    for run in _CJK.findall(lowered):
        found |= _cjk_pairs(run, cjk_stops)
    rest = _CJK.sub(" ", lowered)
    if lang in _SNOWBALL:
        words = [w for w in _TOKEN.findall(rest) if len(w) > 2 or w.isdigit()]
        found.update(_stemmer(lang).stemWords([w for w in words if w not in stops]))
    else:  # English rules, as before: ASCII words of three letters or more
        found.update(stem(w) for w in _ASCII_WORD.findall(rest) if len(w) > 2 and w not in stops)
    return frozenset(found)


def message_words(text: str) -> int:
    """Words of a message for the confidence's length signal: letter/digit runs ("won't" is
    two, as the English model was trained), Chinese/Japanese characters two to a word."""
    cjk = sum(len(run) for run in _CJK.findall(text))
    return len(_ANY_WORD.findall(_CJK.sub(" ", text))) + (cjk + 1) // 2


def word_count(text: str) -> int:
    """Words for length budgets: whitespace-separated words, Chinese/Japanese characters
    counted two to a word (a character is about half an English word)."""
    cjk = sum(len(run) for run in _CJK.findall(text))
    return len(_CJK.sub(" ", text).split()) + (cjk + 1) // 2
