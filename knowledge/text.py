"""Plain-text hygiene for customer questions and article text."""

from __future__ import annotations

import html
import re

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
_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A light English stemmer: enough to match "charges", "charging" and "charge"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3]
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    if (len(word) > 3 and word.endswith("e")) or (len(word) > 4 and word.endswith("y")):
        word = word[:-1]
    return word


def terms(text: str) -> frozenset[str]:
    """The topic words of a text, lower-cased and stemmed (for lexical matching)."""
    return frozenset(
        stem(w) for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in STOP_WORDS
    )
