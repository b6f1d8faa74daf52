"""When people answer chats: `SUPPORT_HOURS`, e.g. "Mon-Fri 09:00-17:00 Europe/Amsterdam" or
"Mon-Fri 09:00-17:30, Sat 10:00-14:00 America/New_York". Outside them the customer is told
when a person will be back; the handoff is queued and posted to Slack all the same."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EXAMPLE = '"Mon-Fri 09:00-17:00 Europe/Amsterdam"'

_SPAN = re.compile(
    r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:/[a-z]{3}(?:-[a-z]{3})?)*)\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)


class SupportHoursError(ValueError):
    """SUPPORT_HOURS cannot be read; the message says what is wrong and shows an example."""


@dataclass(frozen=True)
class Window:
    weekday: int  # 0 = Monday
    start: time
    end: time


def _clock(text: str, raw: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise SupportHoursError(f"SUPPORT_HOURS has an impossible time {text!r} in {raw!r}")
    return time(hours, minutes)


def _days(spec: str, raw: str) -> list[int]:
    days: list[int] = []
    for part in spec.split("/"):
        first, _, last = part.partition("-")
        for name in (first, last or first):
            if name not in DAYS:
                raise SupportHoursError(
                    f"SUPPORT_HOURS has an unknown day {name!r} in {raw!r}; use "
                    f"{', '.join(d.title() for d in DAYS)} (e.g. {EXAMPLE})"
                )
        start, end = DAYS.index(first), DAYS.index(last or first)
        span = range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)]
        days.extend(span)
    return days


@dataclass(frozen=True)
class SupportHours:
    windows: tuple[Window, ...]
    zone: ZoneInfo
    text: str

    @classmethod
    def parse(cls, raw: str) -> SupportHours:
        text = " ".join(raw.split())
        spans, _, zone_name = text.rpartition(" ")
        if not spans:
            raise SupportHoursError(
                f"SUPPORT_HOURS needs days, hours and a time zone, e.g. {EXAMPLE}; got {raw!r}"
            )
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SupportHoursError(
                f"SUPPORT_HOURS ends with {zone_name!r}, which is not an IANA time zone "
                f"(like Europe/Amsterdam or UTC); e.g. {EXAMPLE}"
            ) from exc
        windows: list[Window] = []
        for span in spans.split(","):
            match = _SPAN.match(span.strip().lower())
            if match is None:
                raise SupportHoursError(
                    f"SUPPORT_HOURS cannot read {span.strip()!r}: write days and hours like "
                    f"{EXAMPLE}, several spans separated by commas"
                )
            start = _clock(match["start"], raw)
            end = _clock(match["end"], raw)
            if end <= start:
                raise SupportHoursError(
                    f"SUPPORT_HOURS: {span.strip()!r} ends before it starts; spans cannot "
                    "cross midnight (write two spans instead)"
                )
            windows.extend(Window(day, start, end) for day in _days(match["days"], raw))
        return cls(tuple(windows), zone, text)

    def _local(self, at: datetime) -> datetime:
        aware = at if at.tzinfo else at.replace(tzinfo=UTC)
        return aware.astimezone(self.zone)

    def is_open(self, at: datetime) -> bool:
        """Whether `at` (aware, or naive UTC) falls inside the support hours."""
        local = self._local(at)
        now = local.time().replace(tzinfo=None)
        return any(w.weekday == local.weekday() and w.start <= now < w.end for w in self.windows)

    def next_opening(self, at: datetime) -> datetime:
        """The next moment, in the support team's time zone, when the hours begin."""
        local = self._local(at)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            starts = sorted(
                datetime.combine(day, w.start, tzinfo=self.zone)
                for w in self.windows
                if w.weekday == day.weekday()
            )
            for start in starts:
                if start > local:
                    return start
        raise SupportHoursError("SUPPORT_HOURS has no opening time")  # parse() forbids this

    def describe_return(self, at: datetime) -> str:
        """When a person is back, for the customer: "Monday at 09:00 (Europe/Amsterdam time)"."""
        opening = self.next_opening(at)
        local = self._local(at)
        days_ahead = (opening.date() - local.date()).days
        when = (
            "today"
            if days_ahead == 0
            else "tomorrow"
            if days_ahead == 1
            else DAY_NAMES[opening.weekday()]
        )
        return f"{when} at {opening:%H:%M} ({self.zone.key} time)"
