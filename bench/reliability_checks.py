"""What the reliability campaign checks, and where it looks: markup in what the widget
receives, Slack control sequences that came from customers, and card numbers and IBANs in
Slack, the LLM requests, the logs, Rasa's tracker store and the handoff database."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley_shared.redact import CARD, IBAN, redact

from bench.hostile_inputs import Canary
from bench.reliability_rig import read_only

MAX_EXAMPLES = 5


@dataclass
class Check:
    """One figure next to its target. `passed` is None for figures without a target."""

    name: str
    value: float
    target: str
    passed: bool | None
    examples: list[str] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "target": self.target,
            "passed": self.passed,
            "examples": self.examples,
            "note": self.note,
        }


def zero_check(name: str, findings: list[str], note: str = "") -> Check:
    return Check(name, len(findings), "0", not findings, findings[:MAX_EXAMPLES], note)


def strings_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a JSON-like value, with where it sits; JSON held in a string
    (Slack's `blocks` as a form field) is opened too."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings_in(v, f"{path}[{i}]")
    elif isinstance(value, str):
        structure = _json_structure(value)
        if structure is not None:
            yield from strings_in(structure, path)
        else:
            yield path, value


def _json_structure(text: str) -> Any:
    """Objects or arrays of them held in a string (Slack's `blocks` as a form field); None
    for anything else, so a customer's "[4111 …]" stays text."""
    if text.lstrip()[:1] not in ("[", "{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
    ):
        return value
    return None


def snippet(text: str, start: int, end: int, context: int = 40) -> str:
    """The match with some context, control characters made visible, numbers masked."""
    lo, hi = max(0, start - context), min(len(text), end + context)
    piece = ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")
    return mask_numbers(ascii(piece)[1:-1])


_LONG_NUMBER = re.compile(r"\d(?:(?:[\s.\-/]|\\u200b|\\xa0)*\d){11,}")
_IBAN_LIKE = re.compile(r"\b[A-Za-z]{2}\d{2}(?:(?:[ \-]|\\xa0)?[A-Za-z0-9]){10,}")


def mask_numbers(text: str) -> str:
    """Results are committed: show a planted card number or IBAN only by its ends."""
    text = _LONG_NUMBER.sub(lambda m: m.group()[:4] + "…" + m.group()[-4:], text)
    return _IBAN_LIKE.sub(lambda m: m.group()[:4] + "…" + m.group()[-2:], text)


# --- markup reaching the widget ----------------------------------------------------------

MARKUP = re.compile(
    r"<\s*/?\s*(?:script|img|iframe|svg|object|embed|style|link|meta|body|html|form|input|a"
    r"|math|details|video|audio|source|base|frame|marquee|textarea|button|select)\b"
    r"|(?:^|[\s\"'/;])on[a-z]{3,}\s*="
    r"|(?:java|vb)script\s*:"
    r"|data\s*:\s*text/html",
    re.I,
)


def markup_findings(messages: list[dict[str, Any]], where: str) -> list[str]:
    found = []
    for path, text in strings_in(messages):
        m = MARKUP.search(text)
        if m:
            found.append(f"{where} `{path}`: {snippet(text, m.start(), m.end())}")
    return found


# --- Slack control sequences -------------------------------------------------------------

_SLACK_SPECIAL = re.compile(r"<![A-Za-z][^>]*>")
_SLACK_USER = re.compile(r"<@([A-Za-z0-9_]+)(?:\|[^>]*)?>")
_SLACK_CHANNEL = re.compile(r"<#([A-Za-z0-9_]+)(?:\|[^>]*)?>")
_SLACK_LINK = re.compile(r"<([a-z][a-z0-9+.\-]*:[^|>\s]*)(?:\|[^>]*)?>", re.I)
READ_ONLY_METHODS = {"auth.test", "conversations.history", "conversations.replies", "users.info"}


def slack_control_findings(
    requests: list[tuple[str, dict[str, Any]]], our_users: set[str], our_links: set[str]
) -> list[str]:
    """Unescaped @channel/@here/user mentions, channel links and links in what the handoff
    service sent to Slack, except its own mentions of agents and links to the articles."""
    found = []
    for i, (method, args) in enumerate(requests):
        if method in READ_ONLY_METHODS:
            continue
        for path, text in strings_in(args):
            for pattern, allowed in (
                (_SLACK_SPECIAL, set()),
                (_SLACK_USER, our_users),
                (_SLACK_CHANNEL, set()),
                (_SLACK_LINK, our_links),
            ):
                for m in pattern.finditer(text):
                    target = m.group(1) if m.groups() else m.group()
                    if target in allowed:
                        continue
                    found.append(f"{method} #{i} `{path}`: {snippet(text, m.start(), m.end(), 30)}")
    return found


def article_urls(knowledge_dir: Path) -> set[str]:
    urls = set()
    for path in knowledge_dir.rglob("*.md"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:20]:
            if line.startswith("url:"):
                urls.add(line.split(":", 1)[1].strip())
    return urls


# --- card numbers and IBANs --------------------------------------------------------------

# Separators people (and serialisers) put inside numbers: removed before searching.
_SEPARATORS = re.compile(
    r"(?<=[0-9A-Za-z])(?:[\s.\-/\u00a0\u200b\u200c\u200d\u2060\ufeff]"
    r"|\\u(?:00a0|200[bcd]|2060|feff)|\\xa0|\\[nrt])+(?=[0-9A-Za-z])",
    re.I,
)
_DIGIT_RUN = re.compile(r"\d{13,}")
_IBAN_START = re.compile(r"(?=([A-Z]{2}\d{2}))")


class CanaryIndex:
    """Finds the card numbers and IBANs the campaign planted, however they were written
    (grouped, dotted, zero-width separated, JSON-escaped)."""

    def __init__(self, canaries: Iterable[Canary]) -> None:
        self.canaries = {c.value: c for c in canaries}
        self.cards = {v for v, c in self.canaries.items() if c.kind == "card"}
        self.card_lengths = sorted({len(v) for v in self.cards})
        self.ibans: dict[str, list[str]] = {}
        for v, c in self.canaries.items():
            if c.kind == "iban":
                self.ibans.setdefault(v[:4], []).append(v)

    def find(self, text: str) -> set[str]:
        flat = _SEPARATORS.sub("", text)
        found: set[str] = set()
        if self.cards:
            for m in _DIGIT_RUN.finditer(flat):
                run = m.group()
                for n in self.card_lengths:
                    for i in range(len(run) - n + 1):
                        if run[i : i + n] in self.cards:
                            found.add(run[i : i + n])
        if self.ibans:
            upper = flat.upper()
            for m in _IBAN_START.finditer(upper):
                for v in self.ibans.get(m.group(1), ()):
                    if upper.startswith(v, m.start()):
                        found.add(v)
        return found


# A JSON number with a long fraction (an intent confidence, a timestamp) is not a card number,
# though its digits may pass the Luhn check: such numbers are hidden from the detection.
_JSON_FRACTION = re.compile(r"(?<=[:\[,])(\s*)-?\d+\.\d+(?:[eE][-+]?\d+)?(?=\s*[,\]}])")


def without_json_fractions(text: str) -> str:
    return _JSON_FRACTION.sub(lambda m: m.group(1) + "0.0", text)


def redact_hits(text: str) -> tuple[int, int]:
    """How many card numbers/IBANs parley_shared.redact finds in `text` (emails and phones off),
    and where the first one starts (-1 if none)."""
    redacted = redact(text, emails=False, phones=False)
    if redacted == text:
        return 0, -1
    hits = (redacted.count(CARD) - text.count(CARD)) + (redacted.count(IBAN) - text.count(IBAN))
    first = next((i for i, (a, b) in enumerate(zip(text, redacted, strict=False)) if a != b), 0)
    return max(hits, 1), first


@dataclass
class SinkScan:
    sink: str
    places: int = 0  # strings, lines or cells read
    chars: int = 0
    redact_hits: int = 0
    redact_examples: list[str] = field(default_factory=list)
    canaries: dict[str, str] = field(default_factory=dict)  # planted value -> first place

    def as_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "places_read": self.places,
            "chars_read": self.chars,
            "redact_detections": self.redact_hits,
            "planted_numbers_found": len(self.canaries),
        }


def scan(sink: str, places: Iterable[tuple[str, str]], index: CanaryIndex) -> SinkScan:
    result = SinkScan(sink)
    for where, text in places:
        result.places += 1
        result.chars += len(text)
        view = without_json_fractions(text)
        hits, first = redact_hits(view)
        if hits:
            result.redact_hits += hits
            if len(result.redact_examples) < MAX_EXAMPLES:
                result.redact_examples.append(f"{where}: {snippet(view, first, first + 19)}")
        for value in index.find(text):
            result.canaries.setdefault(value, where)
    return result


def slack_places(requests: list[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, str]]:
    for i, (method, args) in enumerate(requests):
        for path, text in strings_in(args):
            yield f"{method} #{i} `{path}`", text


def llm_places(bodies: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for i, body in enumerate(bodies):
        for path, text in strings_in(body):
            yield f"request #{i} `{path}`", text


def log_places(state_dir: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(state_dir.rglob("*.log")):
        with path.open(encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                yield f"{path.relative_to(state_dir)}:{n}", line


def sqlite_places(path: Path) -> Iterator[tuple[str, str]]:
    """Every text (and blob) cell of every table."""
    if not path.exists():
        return
    with contextlib.closing(read_only(path)) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = con.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from sqlite
            columns = [d[0] for d in cursor.description]
            for n, row in enumerate(cursor, 1):
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", errors="replace")
                    if isinstance(value, str):
                        yield f"{path.name} {table}.{column} row {n}", value


def leak_checks(
    scans: list[SinkScan], index: CanaryIndex, where_planted: dict[str, str]
) -> list[Check]:
    """Two figures per place: what parley_shared.redact detects there (the issue's measure) and
    which of the planted numbers are there in any format (covers formats it misses)."""
    checks = []
    for s in scans:
        checks.append(
            Check(
                f"card numbers/IBANs detected by parley_shared.redact in {s.sink}",
                s.redact_hits,
                "0",
                s.redact_hits == 0,
                s.redact_examples,
            )
        )
        examples = []
        for value, where in list(s.canaries.items())[:MAX_EXAMPLES]:
            c = index.canaries[value]
            recognised = "recognised" if c.redact_recognises else "NOT recognised"
            examples.append(
                f"{mask_numbers(ascii(c.written)[1:-1])} ({c.kind}, {recognised} by "
                f"parley_shared.redact as written; input {where_planted.get(value, '?')}) "
                f"at {where}"
            )
        not_recognised = sum(1 for v in s.canaries if not index.canaries[v].redact_recognises)
        checks.append(
            Check(
                f"planted card numbers/IBANs found in {s.sink}",
                len(s.canaries),
                "0",
                not s.canaries,
                examples,
                f"{not_recognised} of them in a format parley_shared.redact does not recognise"
                if s.canaries
                else "",
            )
        )
    return checks
