"""Rate limits keyed by any string (a conversation id, a client address): one token bucket
per key, refilled steadily, so a burst up to the limit is allowed and then one message per
(60 / limit) seconds.

Pure stdlib and thread-safe, so the Rasa channels (Python 3.10), the widget server and the
handoff service can all use it. Callers depend only on `RateLimiter.hit`; a shared backend
(Redis, for several replicas) only has to implement that one method.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    def hit(self, key: str) -> float:
        """Count one event for `key`: 0.0 if it is allowed, otherwise the seconds to wait
        before the next one would be (a refused event is not counted)."""
        ...


class NoLimit:
    """The limiter for a limit switched off (0)."""

    def hit(self, key: str) -> float:
        return 0.0


class TokenBucketLimiter:
    """`per_minute` events per key and minute, in memory (one process)."""

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be 1 or more, got {per_minute} (use NoLimit)")
        self.capacity = float(burst if burst is not None else per_minute)
        self.refill_per_second = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        # key -> (tokens left, when last counted); least recently counted first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.refill_per_second)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.refill_per_second
            self._buckets[key] = (tokens, now)
            self._forget_idle(now)
            return wait

    def __len__(self) -> int:
        return len(self._buckets)

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely is the same as no bucket, so dropping it
        # changes nothing; above max_keys the least recently seen go even if not full
        # (bounded memory matters more than exactness for a flood of one-off keys).
        while self._buckets:
            key, (tokens, then) = next(iter(self._buckets.items()))
            full = tokens + (now - then) * self.refill_per_second >= self.capacity
            if not full and len(self._buckets) <= self.max_keys:
                return
            del self._buckets[key]


def limiter_for(per_minute: int) -> RateLimiter:
    """The in-process limiter for a configured limit; 0 or less switches it off."""
    return TokenBucketLimiter(per_minute) if per_minute > 0 else NoLimit()


def hourly_limiter(per_hour: int) -> RateLimiter:
    """`per_hour` events per key and hour (all of them at once, then one every 60/per_hour
    minutes); 0 or less switches it off."""
    return TokenBucketLimiter(per_hour / 60.0, burst=per_hour) if per_hour > 0 else NoLimit()
