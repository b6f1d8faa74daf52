"""Rate limits counted in a real Redis (scripts/servers.py): the same token buckets as in
memory, one count per key for every process and replica, and never a refusal because Redis
is down."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from parley_shared.rate_limit import (
    KEY_PREFIX,
    NoLimit,
    RedisTokenBucketLimiter,
    TokenBucketLimiter,
    hourly_limiter,
    limiter_for,
)

from scripts.ports import free_port
from scripts.servers import LocalServers

pytestmark = pytest.mark.servers
ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with LocalServers(tmp_path_factory.mktemp("servers"), postgres=False) as servers:
        yield servers.redis_url


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return request.node.name  # each test its own buckets


def test_a_burst_then_a_steady_rate_as_in_memory(redis_url: str, name: str) -> None:
    clock = Clock()
    limiter = RedisTokenBucketLimiter(redis_url, 20, name=name, clock=clock)
    memory = TokenBucketLimiter(20, clock=clock)

    assert [limiter.hit("c1") for _ in range(20)] == [0.0] * 20
    assert limiter.hit("c1") == pytest.approx(3.0)  # 20 a minute: one every 3 seconds
    for _ in range(21):
        memory.hit("c1")
    for step in (1.0, 1.5, 0.5, 3.0, 0.1, 30.0):
        clock.now += step
        assert limiter.hit("c1") == pytest.approx(memory.hit("c1"))
    # Hammering while refused does not push the next slot back.
    for _ in range(50):
        limiter.hit("c1")
    clock.now += 3
    assert limiter.hit("c1") == 0.0


def test_keys_and_names_are_counted_separately(redis_url: str, name: str) -> None:
    clock = Clock()
    limiter = RedisTokenBucketLimiter(redis_url, 1, name=name, clock=clock)
    other = RedisTokenBucketLimiter(redis_url, 1, name=name + "-other", clock=clock)

    assert limiter.hit("a") == 0.0
    assert limiter.hit("b") == 0.0
    assert limiter.hit("a") > 0
    assert other.hit("a") == 0.0


def test_a_bucket_is_forgotten_when_it_is_full_again(redis_url: str, name: str) -> None:
    limiter = RedisTokenBucketLimiter(redis_url, 60, name=name, clock=Clock())
    for _ in range(10):
        limiter.hit("idle")
    ttl = redis.Redis.from_url(redis_url).pttl(limiter.prefix + "idle")
    assert 10_000 < ttl <= 11_000  # 10 tokens at one a second, plus a second's margin
    assert limiter.prefix.startswith(f"{KEY_PREFIX}:{name}:")


def test_every_process_shares_one_count_exactly(redis_url: str, name: str) -> None:
    """60 an hour: across 8 threads (each its own limiter and connections, like replicas)
    and another process hammering one key, exactly 60 hits pass."""
    passed: list[int] = []
    lock = threading.Lock()

    def replica() -> None:
        limiter = hourly_limiter(60, redis_url=redis_url, name=name)
        ok = sum(1 for _ in range(40) if limiter.hit("conversation") == 0.0)
        with lock:
            passed.append(ok)

    code = (
        "from parley_shared.rate_limit import hourly_limiter\n"
        f"limiter = hourly_limiter(60, redis_url={redis_url!r}, name={name!r})\n"
        "print(sum(1 for _ in range(40) if limiter.hit('conversation') == 0.0))\n"
    )
    other = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
    threads = [threading.Thread(target=replica) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out, _ = other.communicate(timeout=60)
    assert other.returncode == 0
    assert sum(passed) + int(out) == 60


def test_the_factories_choose_redis_only_with_a_url(redis_url: str) -> None:
    assert isinstance(limiter_for(10), TokenBucketLimiter)
    assert isinstance(limiter_for(10, redis_url=redis_url), RedisTokenBucketLimiter)
    assert isinstance(limiter_for(0, redis_url=redis_url), NoLimit)
    assert isinstance(hourly_limiter(6), TokenBucketLimiter)
    assert isinstance(hourly_limiter(6, redis_url=redis_url, name="x"), RedisTokenBucketLimiter)
    assert isinstance(hourly_limiter(0, redis_url=redis_url), NoLimit)
    limiter = hourly_limiter(6, redis_url=redis_url, name="handoff-test-factory")
    assert [limiter.hit("k") == 0.0 for _ in range(7)] == [True] * 6 + [False]


def test_redis_down_counts_in_memory_with_one_warning(
    redis_url: str, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://:secret@127.0.0.1:{free_port()}/0"
    limiter = RedisTokenBucketLimiter(dead, 3, name=name)
    with caplog.at_level(logging.WARNING, logger="parley_shared.rate_limit"):
        started = time.monotonic()
        waits = [limiter.hit("c1") for _ in range(4)] + [limiter.hit("c2") for _ in range(50)]
        assert time.monotonic() - started < 3  # one failed connection, not one per hit
    assert waits[:3] == [0.0] * 3 and waits[3] > 0  # still limited, in memory
    assert waits[4] == 0.0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "memory" in warnings[0].getMessage()
    assert "secret" not in warnings[0].getMessage()

    # Redis answers again (here: the right address) once the retry pause is over.
    limiter.redis_url, limiter._client, limiter._script = redis_url, None, None
    limiter._down_until = time.monotonic() - 1
    with caplog.at_level(logging.INFO, logger="parley_shared.rate_limit"):
        assert limiter.hit("c1") == 0.0  # a fresh bucket in Redis
    assert "answers again" in caplog.records[-1].getMessage()
    assert redis.Redis.from_url(redis_url).exists(limiter.prefix + "c1")
