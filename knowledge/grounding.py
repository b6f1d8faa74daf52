"""Is a written answer grounded in the passages it cites? Checked before a customer sees it.

A language model that read the right passages can still write a wrong price or a made-up
link, and that is the one mistake a support answer must not make. Every checkable fact in
the answer must be found in the passages it cites:
  - numbers (prices, durations, percentages, times, phone numbers: each run of digits),
    compared without their separators, so "1,000" / "1.000" / "1000" and "17,50 €" /
    "€17.50" are one number (separators differ by language; the digits do not);
  - amounts of money: the same number with the same currency ("$24" is not "A$24");
  - codes (a word mixing letters and digits: WELCOME10, TW-482913, 5G);
  - links and email addresses, verbatim (a link may also be a cited article's own page);
and every citation marker [n] must name a passage the model was given; an answer without
any citation cannot be checked, so it fails too. Number words in the passages ("two days",
"zwei Tage") count as their digits, so an answer may write "2 days" for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

CITATION = re.compile(r"\[(\d{1,3})\]")
_URL = re.compile(r"https?://[^\s<>()\[\]\"']+", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A number: digit groups joined by the separators languages use inside one number.
_NUMBER = re.compile(r"\d+(?:[.,'’\u00a0\u202f]\d+)*")
# A code: Latin letters and then digits in one word (a number with a unit after it, "15GB",
# is a number, checked as one).
_CODE = re.compile(
    r"(?<![A-Za-z0-9-])(?=[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]"
    r"(?![A-Za-z0-9-])"
)
# Currency signs and names around a number, normalised to one code each.
_CURRENCY_WORDS = {
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "£": "GBP",
    "gbp": "GBP",
    "a$": "AUD",
    "au$": "AUD",
    "aud": "AUD",
    "c$": "CAD",
    "ca$": "CAD",
    "cad": "CAD",
    "nz$": "NZD",
    "nzd": "NZD",
    "chf": "CHF",
    "fr.": "CHF",
    "¥": "JPY",
    "円": "JPY",
    "jpy": "JPY",
    "元": "CNY",
    "cny": "CNY",
    "rmb": "CNY",
    "kr": "SEK/NOK/DKK",
    "sek": "SEK/NOK/DKK",
    "nok": "SEK/NOK/DKK",
    "dkk": "SEK/NOK/DKK",
}
_SIGN = "|".join(
    re.escape(w) for w in sorted(_CURRENCY_WORDS, key=len, reverse=True) if not w.isalpha()
)
_NAME = "|".join(w for w in _CURRENCY_WORDS if w.isalpha())
_MONEY_BEFORE = re.compile(rf"(?:(?<![\w$])({_SIGN})|\b({_NAME})\b)\s?({_NUMBER.pattern})", re.I)
_MONEY_AFTER = re.compile(rf"({_NUMBER.pattern})\s?(?:({_SIGN})|({_NAME})\b)", re.I)
# Small number words, so "two days" in a passage grounds "2 days" in an answer.
_NUMBER_WORDS = {
    "en": "zero one two three four five six seven eight nine ten eleven twelve",
    "de": "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf",
    "es": "cero _ dos tres cuatro cinco seis siete ocho nueve diez once doce",
    # French "un" is also the article "a": left out, or every passage would hold a 1.
    "fr": "zéro _ deux trois quatre cinq six sept huit neuf dix onze douze",
}
_WORD_DIGITS: dict[str, str] = {}
for _words in _NUMBER_WORDS.values():
    for _i, _w in enumerate(_words.split()):
        if _w != "_":
            _WORD_DIGITS.setdefault(_w, str(_i))
_WORD = re.compile(r"[^\W\d_]+")


def digits(number: str) -> str:
    """A number's digits without separators or leading zeros ("1,000" -> "1000")."""
    d = re.sub(r"\D", "", number)
    return d.lstrip("0") or "0"


def _currency(word: str) -> str:
    return _CURRENCY_WORDS.get(word.lower(), word.upper())


def money(text: str) -> dict[tuple[str, str], str]:
    """(currency, digits) of every amount of money in `text`, with the amount as written."""
    found = {}
    for m in _MONEY_BEFORE.finditer(text):
        found[(_currency(m.group(1) or m.group(2)), digits(m.group(3)))] = m.group(0)
    for m in _MONEY_AFTER.finditer(text):
        found[(_currency(m.group(2) or m.group(3)), digits(m.group(1)))] = m.group(0)
    return found


def _without_links(text: str) -> str:
    return _EMAIL.sub(" ", _URL.sub(" ", text))


def numbers(text: str) -> dict[str, str]:
    """The digits of every number in `text`, with the number as written (links, emails and
    citation markers left out)."""
    plain = CITATION.sub(" ", _without_links(text))
    return {digits(m.group(0)): m.group(0) for m in _NUMBER.finditer(plain)}


def codes(text: str) -> set[str]:
    """Words mixing letters and digits (discount codes, order numbers, model names)."""
    plain = CITATION.sub(" ", _without_links(text))
    return {m.group(0).lower() for m in _CODE.finditer(plain)}


def links(text: str) -> set[str]:
    return {m.group(0).rstrip(".,;:!?").lower() for m in _URL.finditer(text)}


def emails(text: str) -> set[str]:
    return {m.group(0).rstrip(".").lower() for m in _EMAIL.finditer(_URL.sub(" ", text))}


@dataclass
class Grounding:
    """The verdict on one written answer: `passed`, or the problems that make it fail."""

    cited: list[int] = field(default_factory=list)  # 1-based passage numbers, in order
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"


def check(answer: str, passages: Sequence[str], own_links: Sequence[str] = ()) -> Grounding:
    """Check `answer` against the numbered `passages` it was written from (passage n is
    `passages[n - 1]`); `own_links` are the pages of the articles it may cite."""
    result = Grounding()
    for m in CITATION.finditer(answer):
        n = int(m.group(1))
        if not 1 <= n <= len(passages):
            result.problems.append(f"cites [{n}], a passage it was not given")
        elif n not in result.cited:
            result.cited.append(n)
    if not result.cited:
        result.problems.append("cites no passage")
        return result
    source = "\n".join(passages[n - 1] for n in result.cited)
    lowered = source.lower()
    have_numbers = set(numbers(source)) | {
        _WORD_DIGITS[w] for w in _WORD.findall(lowered) if w in _WORD_DIGITS
    }
    for number, written in numbers(answer).items():
        if number not in have_numbers:
            result.problems.append(f"the number {written} is in none of the passages it cites")
    have_money = money(source)
    for (currency, amount), written in money(answer).items():
        # A number not there at all is reported above; here it is there in another currency.
        if (currency, amount) not in have_money and amount in have_numbers:
            result.problems.append(f"{written} is in another currency in the passages it cites")
    for code in sorted(codes(answer)):
        if code not in lowered:
            result.problems.append(f"{code!r} is in none of the passages it cites")
    allowed = links(source) | {u.lower().rstrip("/") for u in own_links if u}
    for url in sorted(links(answer)):
        if url not in allowed and url.rstrip("/") not in allowed:
            result.problems.append(f"the link {url} is in none of the passages it cites")
    for address in sorted(emails(answer) - emails(source)):
        result.problems.append(f"the address {address} is in none of the passages it cites")
    return result
