"""Rate limits keyed by any string (a conversation id, a client address): one token bucket
per key, refilled steadily, so a burst up to the limit is allowed and then one message per
(60 / limit) seconds.

Pure stdlib and thread-safe, so the Rasa channels (Python 3.10), the widget server and the
handoff service can all use it. Callers depend only on `RateLimiter.hit`. With a Redis URL
(REDIS_URL, for several replicas) the buckets live in Redis instead, the same token bucket
counted atomically by one Lua script, so every process and replica shares one count per key;
if Redis cannot be reached the limiter counts in memory meanwhile (a rate limit must never drop
a customer's message), warning once per outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


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


# One bucket per Redis hash {tokens, ts}; the whole read-refill-take-write is one script, so
# concurrent hits from any number of processes are counted exactly once each. The time is the
# Redis server's (one clock for every replica) unless the caller passes one (ARGV[3], tests).
# A bucket expires when it would be full again: the same as no bucket, as in memory.
_TOKEN_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(bucket[1]) or capacity
local then_ = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - then_) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens))
redis.call('HSET', KEYS[1], 'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return string.format('%.17g', wait)
"""

# After Redis failed, count in memory this long before trying it again, so an outage does not
# add a connection timeout to every message.
REDIS_RETRY_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.5
KEY_PREFIX = "parley:rate"


class RedisTokenBucketLimiter:
    """`per_minute` events per key and minute, counted in Redis: shared by every process and
    replica using the same Redis and `name`. The same buckets as TokenBucketLimiter.

    `name` keeps limiters apart that count the same keys (a conversation id limited per
    minute in one place and per hour in another). When Redis fails, hits are counted by an
    in-memory TokenBucketLimiter until it answers again (retried every REDIS_RETRY_SECONDS).
    """

    def __init__(
        self,
        redis_url: str,
        per_minute: float,
        *,
        burst: int | None = None,
        name: str = "default",
        clock: Callable[[], float] | None = None,
        client: Any = None,
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be 1 or more, got {per_minute} (use NoLimit)")
        self.capacity = float(burst if burst is not None else per_minute)
        self.refill_per_second = per_minute / 60.0
        self.prefix = f"{KEY_PREFIX}:{name}:{self.capacity:g}/{per_minute:g}:"
        self.redis_url = redis_url
        self._clock = clock
        self._client = client
        self._script: Any = None
        self.fallback = TokenBucketLimiter(
            per_minute, burst=burst, clock=clock if clock is not None else time.monotonic
        )
        self._down_until = 0.0  # monotonic time before which Redis is not tried again
        self._lock = threading.Lock()

    def _redis_script(self) -> Any:
        if self._script is None:
            with self._lock:
                if self._script is None:
                    if self._client is None:
                        import redis  # only where a Redis URL is configured

                        self._client = redis.Redis.from_url(
                            self.redis_url,
                            socket_timeout=REDIS_TIMEOUT_SECONDS,
                            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                        )
                    self._script = self._client.register_script(_TOKEN_BUCKET_LUA)
        return self._script

    def hit(self, key: str) -> float:
        if time.monotonic() < self._down_until:
            return self.fallback.hit(key)
        args: list[float | str] = [repr(self.capacity), repr(self.refill_per_second)]
        if self._clock is not None:
            args.append(repr(self._clock()))
        try:
            wait = float(self._redis_script()(keys=[self.prefix + key], args=args))
        except Exception as error:  # any failure: count in memory, never refuse for it
            with self._lock:
                first = self._down_until == 0.0
                self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
            if first:
                log.warning(
                    "Rate limits: Redis at %s failed (%s); counting in this process's memory "
                    "until it answers again",
                    _without_password(self.redis_url),
                    error,
                )
            return self.fallback.hit(key)
        if self._down_until:
            with self._lock:
                self._down_until = 0.0
            log.info("Rate limits: Redis answers again; counting there")
        return wait


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        rest = "…@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest


def limiter_for(
    per_minute: int, redis_url: str | None = None, name: str = "default"
) -> RateLimiter:
    """The limiter for a configured limit; 0 or less switches it off. With `redis_url` the
    count is shared in Redis by every process using the same URL and `name` (give each call
    site its own name); without it, in this process's memory."""
    if per_minute <= 0:
        return NoLimit()
    if redis_url:
        return RedisTokenBucketLimiter(redis_url, per_minute, name=name)
    return TokenBucketLimiter(per_minute)


def hourly_limiter(
    per_hour: int, redis_url: str | None = None, name: str = "default"
) -> RateLimiter:
    """`per_hour` events per key and hour (all of them at once, then one every 60/per_hour
    minutes); 0 or less switches it off. `redis_url` and `name` as for limiter_for."""
    if per_hour <= 0:
        return NoLimit()
    if redis_url:
        return RedisTokenBucketLimiter(redis_url, per_hour / 60.0, burst=per_hour, name=name)
    return TokenBucketLimiter(per_hour / 60.0, burst=per_hour)
