"""Customer text shown to agents, made unable to pose as something else: one line per
message (a newline cannot start a forged "Bot:" line) and, in a terminal, no control
characters (an escape sequence cannot clear the screen, recolour or hide text)."""

from __future__ import annotations

import re
import unicodedata

LINE_BREAK_MARK = " ↵ "
# Bidirectional overrides and isolates reorder what follows them on screen.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def one_line(text: str) -> str:
    """The message on one line; its own line breaks (any Unicode kind) become a visible ↵."""
    parts = [part.strip() for part in text.splitlines()]
    return LINE_BREAK_MARK.join(part for part in parts if part)


def terminal_safe(text: str) -> str:
    """Text without control characters (C0, C1, DEL, bidi overrides); tabs become spaces."""
    text = _BIDI_CONTROLS.sub("", text.replace("\t", " "))
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
