"""Plain-text hygiene for customer questions and article text."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>|<!--.*?-->|<[^<>]{0,2000}>", re.S | re.I)
_SPACE = re.compile(r"[ \t\r\f\v]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Questions are cut before retrieval: the encoder reads at most 256 tokens anyway and a
# 20k-character message must not cost more than a short one.
MAX_QUESTION_CHARS = 1000


def strip_html(text: str) -> str:
    """Drop tags (and script/style bodies), unescape entities, keep the visible text."""
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    # Entities may have produced new tags ("&lt;b&gt;"); never let them through either.
    text = _TAG.sub(" ", text)
    return text.replace("<", "‹").replace(">", "›")


def clean_question(text: str, limit: int = MAX_QUESTION_CHARS) -> str:
    text = _CONTROL.sub(" ", strip_html(text or ""))
    text = _SPACE.sub(" ", text).strip()
    return text[:limit]


def normalise_block(text: str) -> str:
    lines = [_SPACE.sub(" ", ln).strip() for ln in text.splitlines()]
    return "\n".join(ln for ln in lines).strip()
