"""Part 3 of the reliability campaign: N customers at once over REST for T seconds.

Each simulated customer runs conversations of three messages (a greeting, a question from
the answer-quality set, thanks), pausing a "think time" between messages, until the time is
up; then no new message is sent and those in flight get at most the request timeout.
Memory of every stack process group is read from /proc at the start, every few seconds,
and at the end."""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from tqdm import tqdm

from bench.machine import percentile
from bench.reliability_checks import Check
from bench.reliability_rig import Rig, customer_address, refusal, support_questions
from handoff.notices import QUEUED_NOTICE

REQUEST_TIMEOUT = 60.0


@dataclass
class LoadStats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)
    sent: int = 0
    handed_off: int = 0  # conversations a trigger handed to a person (the bot then is quiet)

    def record_error(self, kind: str, example: str) -> None:
        self.errors[kind] += 1
        if len(self.error_examples) < 5:
            self.error_examples.append(f"{kind}: {example}"[:200])


async def _customer(
    k: int,
    client: httpx.AsyncClient,
    rig: Rig,
    stats: LoadStats,
    deadline: float,
    think: float,
    questions: list[str],
    run_id: str,
    ramp: float,
) -> None:
    rng = random.Random(f"load:{k}")
    await asyncio.sleep(rng.uniform(0, ramp))  # customers arrive over the first seconds
    n = 0
    while time.monotonic() < deadline:
        sender = f"{run_id}-load{k}-{n}"
        for text in ("hi", rng.choice(questions), "thanks"):
            if time.monotonic() >= deadline:
                return
            went_on = await _one_message(client, rig, stats, sender, text, customer_address(4, k))
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
            if not went_on:
                break  # a person has the chat: this customer starts another one
        n += 1


async def _one_message(
    client: httpx.AsyncClient, rig: Rig, stats: LoadStats, sender: str, text: str, address: str
) -> bool:
    """Send, time, classify; False when the conversation was handed to a person."""
    stats.sent += 1
    started = time.perf_counter()
    try:
        r = await client.post(
            f"{rig.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            headers={"X-Forwarded-For": address},
            timeout=REQUEST_TIMEOUT,
        )
    except httpx.TimeoutException as exc:
        stats.record_error("timeout", f"{sender}: {type(exc).__name__}")
        return True
    except httpx.HTTPError as exc:
        stats.record_error("connection", f"{sender}: {type(exc).__name__}: {exc}")
        return True
    elapsed_ms = (time.perf_counter() - started) * 1000
    if r.status_code >= 300:
        stats.record_error(f"HTTP {r.status_code}", f"{sender}: {r.text[:100]}")
        return True
    try:
        replies = r.json()
    except ValueError:
        stats.record_error("not JSON", f"{sender}: {r.text[:100]}")
        return True
    if not replies:
        if await _paused(client, rig, sender):
            stats.handed_off += 1
            stats.latencies_ms.append(elapsed_ms)  # answered: by silence, rightly
            return False
        stats.record_error("empty reply", f"{sender}: {text!r}")
        return True
    refused = refusal(replies)
    if refused:  # a customer writing at a person's pace should never be told to slow down
        stats.record_error(f"refused: {refused}", f"{sender}: {text!r}")
        return True
    stats.latencies_ms.append(elapsed_ms)
    if any(QUEUED_NOTICE in str(reply.get("text") or "") for reply in replies):
        stats.handed_off += 1
        return False
    return True


async def _paused(client: httpx.AsyncClient, rig: Rig, sender: str) -> bool:
    try:
        r = await client.get(
            f"{rig.rasa_url}/conversations/{sender}/tracker",
            params={"token": rig.running.token},
            timeout=REQUEST_TIMEOUT,
        )
        return bool(r.json().get("paused"))
    except (httpx.HTTPError, ValueError):
        return False


async def _memory_sampler(rig: Rig, samples: list[dict[str, int]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(rig.rss_kib())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=5.0)


async def _progress(stats: LoadStats, seconds: float, stop: asyncio.Event) -> None:
    with tqdm(total=int(seconds), desc="load", unit="s") as bar:
        started = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(1.0)
            bar.n = min(int(seconds), int(time.monotonic() - started))
            recent = stats.latencies_ms[-500:]
            bar.set_postfix(
                sent=stats.sent,
                errors=sum(stats.errors.values()),
                p95_ms=round(percentile(recent, 0.95)) if recent else "-",
            )
            bar.refresh()


async def _run(rig: Rig, clients: int, seconds: float, think: float, run_id: str) -> Any:
    stats = LoadStats()
    samples: list[dict[str, int]] = []
    stop = asyncio.Event()
    start_rss = rig.rss_kib()
    questions = support_questions()
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits) as client:
        started = time.monotonic()
        deadline = started + seconds
        sampler = asyncio.create_task(_memory_sampler(rig, samples, stop))
        progress = asyncio.create_task(_progress(stats, seconds, stop))
        ramp = min(10.0, seconds / 10)
        await asyncio.gather(
            *(
                _customer(k, client, rig, stats, deadline, think, questions, run_id, ramp)
                for k in range(clients)
            )
        )
        elapsed = time.monotonic() - started
        stop.set()
        await asyncio.gather(sampler, progress)
    end_rss = rig.rss_kib()
    return stats, elapsed, start_rss, end_rss, samples


def run_load(rig: Rig, args: Any, run_id: str) -> tuple[list[Check], dict[str, Any]]:
    clients, seconds, think = args.load_clients, args.load_seconds, args.think_seconds
    stats, elapsed, start_rss, end_rss, samples = asyncio.run(
        _run(rig, clients, seconds, think, run_id)
    )
    lat = stats.latencies_ms
    errors = sum(stats.errors.values())
    peak = {name: max(s.get(name, 0) for s in samples) for name in start_rss} if samples else {}
    memory = {
        name: {
            "start_mib": round(start_rss[name] / 1024, 1),
            "end_mib": round(end_rss.get(name, 0) / 1024, 1),
            "peak_mib": round(peak.get(name, 0) / 1024, 1),
        }
        for name in start_rss
    }
    figures = {
        "clients": clients,
        "seconds": seconds,
        "think_seconds": think,
        "elapsed_s": round(elapsed, 1),
        "messages_sent": stats.sent,
        "messages_answered": len(lat),
        "conversations_handed_to_a_person": stats.handed_off,
        "messages_per_s": round(len(lat) / elapsed, 2) if elapsed else 0.0,
        "errors": errors,
        "errors_by_kind": dict(stats.errors),
        "error_rate": round(errors / stats.sent, 4) if stats.sent else 0.0,
        "latency_ms": {
            "p50": round(percentile(lat, 0.50), 1) if lat else None,
            "p95": round(percentile(lat, 0.95), 1) if lat else None,
            "p99": round(percentile(lat, 0.99), 1) if lat else None,
            "max": round(max(lat), 1) if lat else None,
            "mean": round(statistics.fmean(lat), 1) if lat else None,
        },
        "memory": memory,
        "memory_total_start_mib": round(sum(start_rss.values()) / 1024, 1),
        "memory_total_end_mib": round(sum(end_rss.values()) / 1024, 1),
    }
    checks = [
        Check(
            f"errors under load ({clients} customers, {seconds:g} s)",
            errors,
            "0",
            errors == 0,
            stats.error_examples,
            ", ".join(f"{k}: {v}" for k, v in stats.errors.items()),
        ),
        Check("messages per second answered", figures["messages_per_s"], "", None),
        Check("p95 per message (ms)", figures["latency_ms"]["p95"] or 0, "", None),
    ]
    return checks, figures
