"""Run in Rasa's venv: print what the widget's socket.io channel emits for the bot events
given as JSON (through Rasa's own OutputChannel.send_response, as the HTTP API does)."""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from rasa.shared.core.events import Event  # noqa: E402

from bot.socketio_channel import SocketIOChannelOutput  # noqa: E402


class RecordingServer:
    def __init__(self) -> None:
        self.emitted: list[Any] = []

    async def emit(self, event: str, data: Any, room: str | None = None) -> None:
        self.emitted.append({"event": event, "room": room, "data": data})


async def main() -> None:
    sio = RecordingServer()
    output = SocketIOChannelOutput(sio, "bot_uttered")  # type: ignore[arg-type]
    for params in json.loads(sys.argv[1]):
        event = Event.from_parameters(params)
        await output.send_response("customer-1", event.message())  # type: ignore[attr-defined]
    print(json.dumps(sio.emitted))


asyncio.run(main())
