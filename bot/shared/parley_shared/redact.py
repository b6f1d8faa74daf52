"""Personal data out of customer text: card numbers, IBANs, and optionally emails and phones.

Card numbers are recognised only when their Luhn check digit is right and IBANs only when
their mod-97 check holds, so order numbers, tracking codes and prices are left alone.
"""

from __future__ import annotations

import re

CARD = "[card number removed]"
IBAN = "[IBAN removed]"
EMAIL = "[email removed]"
PHONE = "[phone number removed]"

# Invisible characters someone may slip between digits to get a number past a filter; they
# carry nothing a reader sees, so they are dropped from the text first.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
# What people (or evasions) put between digit groups: spaces of every width, dashes, dots,
# slashes.
_SEP = "[ \\-./\u00a0\u2007\u2009\u202f]"
# 13-19 digits, together or in groups joined by one separator (4-4-4-4, 4-6-5, 4-4-4-1).
# Groups, not any digit run with separators: a Slack timestamp ("1700000001.000100") or a
# decimal is not a card number even when its digits pass the Luhn check.
_CARD_RE = re.compile(rf"(?<![\w-])(?:\d{{13,19}}|\d{{2,6}}(?:{_SEP}\d{{1,7}}){{2,6}})(?![\w-])")
# Country code and check digits, then 11-30 letters/digits: written together, or in groups of
# four with one separator between groups (the last group shorter).
_IBAN_RE = re.compile(
    rf"\b[A-Z]{{2}}\d{{2}}(?:[A-Z0-9]{{11,30}}|(?:{_SEP}[A-Z0-9]{{4}}){{2,7}}(?:{_SEP}[A-Z0-9]{{1,4}})?)\b",
    re.IGNORECASE,
)
_SEP_RE = re.compile(_SEP)
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A leading + or at least 10 digits, allowing spaces, dots, dashes and one bracketed group.
_PHONE_RE = re.compile(r"(?<![\w+])(?:\+\d[\d ().-]{6,18}\d|\(?\d{2,4}\)?(?:[ .-]?\d){8,11})(?!\w)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    text = _SEP_RE.sub("", candidate).upper()
    if not 15 <= len(text) <= 34:
        return False
    moved = text[4:] + text[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return CARD if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()


def _iban(match: re.Match[str]) -> str:
    text = match.group()
    # A grouped match may have swallowed a following four-letter word ("... 00 asap"):
    # drop trailing groups until the checksum holds.
    candidate = text
    while True:
        if iban_valid(candidate):
            return IBAN + text[len(candidate) :]
        cut = max((m.start() for m in _SEP_RE.finditer(candidate)), default=-1)
        if cut < 0:
            return text
        candidate = candidate[:cut]


def redact(text: str, emails: bool = True, phones: bool = True) -> str:
    """The text with card numbers and IBANs (and, unless switched off, emails and phone
    numbers) replaced by a bracketed note saying what was removed."""
    text = _INVISIBLE.sub("", text)
    text = _CARD_RE.sub(_card, text)
    text = _IBAN_RE.sub(_iban, text)
    if emails:
        text = _EMAIL_RE.sub(EMAIL, text)
    if phones:
        text = _PHONE_RE.sub(PHONE, text)
    return text
