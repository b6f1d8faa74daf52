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

# 13-19 digits, optionally grouped by single spaces or dashes (as people type them).
_CARD_RE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
# Country code and check digits, then 11-30 letters/digits: written together, or in groups of
# four separated by single spaces (the last group shorter).
_IBAN_RE = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b",
    re.IGNORECASE,
)
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
    text = candidate.replace(" ", "").upper()
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
        head, sep, _ = candidate.rpartition(" ")
        if not sep:
            return text
        candidate = head


def redact(text: str, emails: bool = True, phones: bool = True) -> str:
    """The text with card numbers and IBANs (and, unless switched off, emails and phone
    numbers) replaced by a bracketed note saying what was removed."""
    text = _CARD_RE.sub(_card, text)
    text = _IBAN_RE.sub(_iban, text)
    if emails:
        text = _EMAIL_RE.sub(EMAIL, text)
    if phones:
        text = _PHONE_RE.sub(PHONE, text)
    return text
