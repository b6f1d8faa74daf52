"""Token-bucket rate limits per key: a burst up to the limit, then a steady rate."""

from __future__ import annotations

import pytest
from parley_shared.rate_limit import NoLimit, TokenBucketLimiter, limiter_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_passes_and_the_next_one_waits() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(20, clock=clock)

    assert [limiter.hit("c1") for _ in range(20)] == [0.0] * 20
    wait = limiter.hit("c1")

    assert wait == pytest.approx(3.0)  # 20 a minute: one every 3 seconds


def test_the_bucket_refills_with_time() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(6, clock=clock)  # one every 10 seconds
    for _ in range(6):
        limiter.hit("c1")

    clock.now += 4
    assert limiter.hit("c1") == pytest.approx(6.0)
    clock.now += 6
    assert limiter.hit("c1") == 0.0
    assert limiter.hit("c1") > 0


def test_a_refused_hit_is_not_counted() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(6, clock=clock)
    for _ in range(6):
        limiter.hit("c1")
    for _ in range(50):  # hammering while refused does not push the next slot back
        limiter.hit("c1")

    clock.now += 10
    assert limiter.hit("c1") == 0.0


def test_keys_are_counted_separately() -> None:
    limiter = TokenBucketLimiter(1, clock=Clock())

    assert limiter.hit("a") == 0.0
    assert limiter.hit("b") == 0.0
    assert limiter.hit("a") > 0


def test_idle_keys_are_forgotten_and_memory_is_bounded() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(60, max_keys=100, clock=clock)
    for i in range(1000):
        limiter.hit(f"address-{i}")
    assert len(limiter) <= 101

    clock.now += 61  # every bucket is full again: nothing to remember
    limiter.hit("fresh")
    assert len(limiter) == 1


def test_a_limit_of_zero_switches_limiting_off() -> None:
    limiter = limiter_for(0)

    assert isinstance(limiter, NoLimit)
    assert all(limiter.hit("x") == 0.0 for _ in range(10_000))
    with pytest.raises(ValueError, match="NoLimit"):
        TokenBucketLimiter(0)
