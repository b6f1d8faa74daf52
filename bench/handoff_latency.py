"""Handoff latency through the real stack (Rasa, action server, handoff service) with a
local mock of Slack's Web API, on loopback.

    .venv/bin/python bench/handoff_latency.py [--n 200]

Measures, over N handoffs:
  * trigger -> packet: from sending "I want to talk to a human" over Rasa's REST channel
    until the mock Slack receives the packet's chat.postMessage (target p95 <= 300 ms);
  * claim -> joined notice: from posting the signed Claim click until Rasa has accepted
    the "<name> (human) joined" message for the customer;
  * agent reply -> customer: from posting the agent's signed thread message to the
    handoff service until Rasa has accepted the bot event for the customer (Rasa answered
    the tracker-events call with execute_side_effects; target p95 <= 200 ms), for a reply
    sent once the joined notice is delivered, as an agent types after claiming;
  * the same for a reply sent at the same instant as the claim, which waits for the
    joined notice's delivery first (the customer sees them in order).
Results go to bench/results/handoff_latency.{json,md} with the machine noted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from handoff.db import Database  # noqa: E402
from handoff.models import OutboxItem  # noqa: E402
from tests.handoff.mock_web_api_server import MockSlack  # noqa: E402
from tests.handoff.polling import wait_for  # noqa: E402
from tests.handoff.slack_helpers import (  # noqa: E402
    CHANNEL,
    SIGNING_SECRET,
    button,
    event,
    interaction,
)
from tests.integration.stack import start_stack  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def sent(db: Database, key: str) -> tuple[float, dict] | None:
    """When the outbox delivered the item with this key (epoch seconds), and its result."""
    with db.session() as s:
        row = s.execute(
            select(OutboxItem.sent_at, OutboxItem.result).where(
                OutboxItem.key == key, OutboxItem.status == "sent"
            )
        ).first()
    return (row[0].replace(tzinfo=UTC).timestamp(), row[1]) if row else None


def agent_says(url: str, thread_ts: str, ts: str, name: str) -> str:
    """Post Ana's signed thread message; returns the outbox key of its delivery."""
    event(
        url,
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "U_ANA",
            "text": f"Hello {name}, Ana here.",
            "ts": ts,
            "thread_ts": thread_ts,
        },
    )
    return f"rasa:slack:{CHANNEL}:{ts}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="number of handoffs (default 200)")
    args = parser.parse_args()

    posted: dict[str, float] = {}  # customer -> time the packet reached Slack

    slack = MockSlack()

    def on_request(method: str, data: dict) -> None:
        if method == "chat.postMessage" and not data.get("thread_ts"):
            text = str(data.get("text", ""))
            posted.setdefault(text.rsplit(" from ", 1)[-1].split(":")[0], time.time())

    slack.on_request = on_request
    slack.start()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "SLACK_HANDOFF_CHANNEL": CHANNEL,
        "HANDOFF_POLL_SECONDS": "0.05",
        # Load the knowledge model on first use, not while the action server starts
        # (a slow start on a busy machine trips Sanic's 30 s worker start-up limit).
        "KNOWLEDGE_PRELOAD": "0",
    }
    trigger_ms: list[float] = []
    claim_ms: list[float] = []
    with_claim_ms: list[float] = []
    reply_ms: list[float] = []
    failures: list[dict] = []
    rasa_ms: list[float] = []  # of the reply path: Rasa's tracker-events call alone
    try:
        with start_stack(extra_env=env) as stack:
            url = stack.stack.settings.handoff_url
            db = Database(f"sqlite:///{stack.state_dir / 'handoff.db'}")
            run = f"b{int(time.time())}"
            # Warm up every process once.
            stack.send(f"{run}-warmup", "hi")
            for i in tqdm(range(args.n), desc="handoffs", unit="handoff"):
                name = f"{run}c{i}"
                stack.send(name, "hi", metadata={"name": name})
                t0 = time.time()
                replies = stack.send(name, "I want to talk to a human", metadata={"name": name})
                try:
                    wait_for(lambda name=name: posted.get(name), timeout=30)
                except AssertionError:
                    failures.append({"customer": name, "replies": replies})
                    print(f"no packet for {name}; bot replied {replies}", file=sys.stderr)
                    for log in sorted((stack.state_dir / "logs").glob("*.log")):
                        print(
                            f"--- {log.name}",
                            *log.read_text().splitlines()[-15:],
                            sep="\n",
                            file=sys.stderr,
                        )
                    continue
                trigger_ms.append((posted[name] - t0) * 1000)
                packet = next(m for m in slack.top_level(CHANNEL) if name in m["text"])
                hid = next(
                    e["value"]
                    for b in packet["blocks"]
                    if b["type"] == "actions"
                    for e in b["elements"]
                )
                t_claim = time.time()
                interaction(url, button("U_ANA", "handoff_claim", hid, packet["ts"]))
                # A first reply at the same instant as the claim: it waits for the joined
                # notice, which the customer must see first.
                first_at = time.time()
                first = agent_says(url, packet["ts"], f"{1800000000 + i}.000100", name)
                joined_at, _ = wait_for(lambda hid=hid: sent(db, f"h{hid}:claimed:customer"))
                claim_ms.append((joined_at - t_claim) * 1000)
                done, _ = wait_for(lambda key=first: sent(db, key))
                with_claim_ms.append((done - first_at) * 1000)
                # A reply once the customer has everything before it: an agent typing.
                t1 = time.time()
                key = agent_says(url, packet["ts"], f"{1800000000 + i}.000200", name)
                done, result = wait_for(lambda key=key: sent(db, key))
                reply_ms.append((done - t1) * 1000)
                rasa_ms.append(float(result.get("took_ms", 0.0)))
            db.dispose()
    finally:
        slack.stop()

    result = {
        "benchmark": "handoff latency (real Rasa + action server + handoff service, mock Slack)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "trigger_to_packet": summary(trigger_ms),
        "claim_to_joined_notice": summary(claim_ms),
        "agent_reply_to_customer": summary(reply_ms),
        "agent_reply_rasa_call_only": summary(rasa_ms),
        "agent_reply_sent_with_claim": summary(with_claim_ms),
        "handoffs_without_packet": len(failures),
        "targets_ms": {"trigger_to_packet_p95": 300, "agent_reply_to_customer_p95": 200},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "handoff_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    t, r = result["trigger_to_packet"], result["agent_reply_to_customer"]
    c = result["claim_to_joined_notice"]
    w = result["agent_reply_sent_with_claim"]
    q = result["agent_reply_rasa_call_only"]
    md = f"""# Handoff latency

{result["benchmark"]}; {args.n} handoffs on loopback.
Run: `.venv/bin/python bench/handoff_latency.py`.

Machine: {result["machine"]["platform"]}, {result["machine"]["cpus"]} CPUs, Python
{result["machine"]["python"]}; 1-minute load average at the end:
{result["machine"]["load_average_1m_at_end"]} (the machine is shared). Date: {result["date"]}.

| Path | p50 ms | p95 ms | max ms | target p95 |
|---|---|---|---|---|
| trigger → packet posted | {t["p50_ms"]} | {t["p95_ms"]} | {t["max_ms"]} | ≤ 300 ms |
| claim → joined notice to customer | {c["p50_ms"]} | {c["p95_ms"]} | {c["max_ms"]} | |
| agent reply → customer | {r["p50_ms"]} | {r["p95_ms"]} | {r["max_ms"]} | ≤ 200 ms |
| … of which Rasa's tracker-events call | {q["p50_ms"]} | {q["p95_ms"]} | {q["max_ms"]} | |
| agent reply sent with the claim → customer | {w["p50_ms"]} | {w["p95_ms"]} | {w["max_ms"]} | |

Trigger → packet: from sending "I want to talk to a human" over the REST channel to the
mock Slack receiving `chat.postMessage`. Claim → joined notice: from posting the signed
Claim click to Rasa accepting the "(human) joined" message. Agent reply → customer: from
posting the signed thread message event to the handoff service to Rasa accepting the bot
event (the `tracker/events?execute_side_effects=true` call returned), for a reply sent once
the customer has the joined notice, as when an agent types after claiming. A reply sent at
the same instant as the claim (last row) waits for the joined notice's delivery first, so
the customer sees them in order: it takes about two Rasa calls.
"""
    (RESULTS / "handoff_latency.md").write_text(md)
    print(
        json.dumps(
            {"trigger_to_packet": t, "claim_to_joined_notice": c, "agent_reply_to_customer": r},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
