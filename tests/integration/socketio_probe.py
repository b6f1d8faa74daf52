"""A socket.io customer, as the widget talks to Rasa: run in the Rasa venv (Python 3.10),
whose python-socketio client this uses, by tests/integration/test_channel_guard.py.

argv[1] is JSON: {"url", "session_id", "headers", "steps": [{"message", "repeat",
"metadata", "expect_reply", "quiet_s"}]}; a step's message is sent `repeat` times over, as
one message. For each step it sends the message and collects every `bot_uttered` until
nothing more arrives for quiet_s seconds (after the first reply, when one is expected); it
prints one JSON list, per step: the messages and the seconds from sending to the first of
them (null if none came).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import socketio

MAX_WAIT_S = 30.0


async def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    client = socketio.AsyncClient()
    received: list[tuple[float, Any]] = []
    confirmed = asyncio.Event()

    @client.on("session_confirm")
    async def on_confirm(_: Any) -> None:
        confirmed.set()

    @client.on("bot_uttered")
    async def on_bot(data: Any) -> None:
        received.append((time.monotonic(), data))

    # Long polling: the engine.io client's websocket transport needs a newer aiohttp than Rasa
    # pins; the channel's handler is the same for both transports.
    await client.connect(spec["url"], headers=spec.get("headers") or {}, transports=["polling"])
    await client.emit("session_request", {"session_id": spec["session_id"]})
    await asyncio.wait_for(confirmed.wait(), MAX_WAIT_S)

    results = []
    for step in spec["steps"]:
        start = len(received)
        sent = time.monotonic()
        await client.emit(
            "user_uttered",
            {
                "message": step["message"] * int(step.get("repeat", 1)),
                "session_id": spec["session_id"],
                "metadata": step.get("metadata") or {},
            },
        )
        quiet = float(step.get("quiet_s", 1.0))
        expect_reply = bool(step.get("expect_reply", True))
        while time.monotonic() - sent < MAX_WAIT_S:
            await asyncio.sleep(0.02)
            got = len(received) > start
            if expect_reply and not got:
                continue
            if time.monotonic() - (received[-1][0] if got else sent) >= quiet:
                break
        new = received[start:]
        results.append(
            {
                "messages": [data for _, data in new],
                "first_reply_s": (new[0][0] - sent) if new else None,
            }
        )
    await client.disconnect()
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))
