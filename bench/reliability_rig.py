"""The test rig of the reliability campaign (bench/reliability.py): a Slack and an LLM faked on
loopback, the real stack with one-service restarts, memory readings, REST and socket.io
customers, and a Slack agent posting signed requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
import websockets
import yaml

from scripts.stack import Service, launch
from tests.fake_openai import embeddings_payload
from tests.handoff.mock_web_api_server import Failure, MockSlack
from tests.handoff.slack_helpers import CHANNEL, SIGNING_SECRET, button, event, interaction
from tests.integration.stack import RunningStack, start_stack

ROOT = Path(__file__).resolve().parents[1]
AGENT_USER = "U_ANA"  # a user the mock Slack knows (users.info)

# --- an OpenAI-compatible model that parrots the customer --------------------------------

_QUESTION = re.compile(r"<<<\n(.*)\n>>>", re.S)
_LAST_CUSTOMER_LINE = re.compile(r"^Customer: (.*)$", re.M)


def parroted_reply(messages: list[dict[str, Any]]) -> str:
    """What a model that obeys whatever the customer wrote would answer: their own words.

    The worst case for what leaves the bot: customer text comes back inside an answer
    (cited, so the answerer uses it) or inside the handoff summary agents read in Slack."""
    last = str(messages[-1].get("content", "")) if messages else ""
    question = _QUESTION.search(last)
    if question:
        return f"{question.group(1)} [1]"
    customer_lines = _LAST_CUSTOMER_LINE.findall(last)
    if customer_lines:
        return f"The customer wrote: {customer_lines[-1]}"
    return "I can help with that [1]."


class ParrotOpenAI:
    """POST /v1/chat/completions (parroting) and /v1/embeddings; records every request body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests.append({"path": self.path, "body": body})
                if self.path.endswith("/embeddings"):
                    payload = embeddings_payload(body)
                else:
                    reply = parroted_reply(body.get("messages") or [])
                    payload = {
                        "id": "chatcmpl-bench",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": reply},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                data = json.dumps(payload).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- a Slack that can have an outage -----------------------------------------------------


@dataclass
class Storm:
    failure: Failure
    until: float
    # Every other request is carried out before the error is returned: Slack posted the
    # message but the client cannot know (the case that duplicates posts if retried blindly).
    half_processed: bool = False


class StormySlack(MockSlack):
    """MockSlack with time-boxed storms: every Web API call fails while one is on."""

    def __init__(self) -> None:
        super().__init__()
        self._storm: Storm | None = None
        self.storm_failures = 0
        self._storm_calls = 0

    def storm(self, failure: Failure, seconds: float, half_processed: bool = False) -> None:
        with self._lock:
            self._storm = Storm(failure, time.monotonic() + seconds, half_processed)
            self._storm_calls = 0

    def calm(self) -> None:
        with self._lock:
            self._storm = None

    def handle(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        process_first = False
        with self._lock:
            storm = self._storm
            if storm and time.monotonic() >= storm.until:
                self._storm = storm = None
            if storm is not None:
                self._storm_calls += 1
                self.storm_failures += 1
                process_first = storm.half_processed and self._storm_calls % 2 == 0
        if storm is None:
            return super().handle(method, args)
        if process_first:
            super().handle(method, args)
        else:
            with self._lock:
                self.requests.append((method, args))
        return storm.failure.status, storm.failure.headers, storm.failure.body


# --- the stack ---------------------------------------------------------------------------


def stack_env(slack: MockSlack, llm: ParrotOpenAI) -> dict[str, str]:
    """What the campaign sets on top of the stack's defaults (reported with the results)."""
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "SLACK_HANDOFF_CHANNEL": CHANNEL,
        "OPENAI_API_KEY": "sk-bench-not-a-key",
        "OPENAI_BASE_URL": llm.url,
        "HANDOFF_POLL_SECONDS": "0.05",
        # Every simulated customer comes from 127.0.0.1; each sends its own address in
        # X-Forwarded-For (customer_address), which Sanic trusts with this, so the message
        # guard's per-address rate limit sees many customers, as behind a proxy.
        "SANIC_PROXIES_COUNT": "1",
        # As in the integration tests: the answerer loads on the first question, so a slow
        # start on a busy machine cannot trip Sanic's 30 s worker start-up limit.
        "KNOWLEDGE_PRELOAD": "0",
    }


@dataclass
class Rig:
    running: RunningStack
    slack: StormySlack
    llm: ParrotOpenAI
    env: dict[str, str]
    _logs: list[IO[str]] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.running.state_dir

    @property
    def rasa_url(self) -> str:
        return self.running.rasa_url

    @property
    def handoff_url(self) -> str:
        return self.running.settings.handoff_url

    @property
    def handoff_db(self) -> Path:
        return self.state_dir / "handoff.db"

    @property
    def tracker_db(self) -> Path:
        return self.state_dir / "tracker.db"

    def service(self, name: str) -> Service:
        return next(s for s in self.running.stack.services if s.name == name)

    def crashed(self) -> str | None:
        crashed = self.running.stack.crashed()
        return crashed.name if crashed else None

    # -- one service down and up again ------------------------------------------------
    def kill(self, name: str) -> float:
        """SIGKILL the service's whole process group (workers too); returns when it is gone."""
        process = self.service(name).process
        assert process is not None
        killed_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        return killed_at

    def relaunch(self, name: str) -> None:
        """Start the service again with the same argv and environment, its output appended to
        its log. Call from the main thread: children die with the thread that started them."""
        service = self.service(name)
        log = open(self.state_dir / "logs" / f"{name}.log", "a", encoding="utf-8")  # noqa: SIM115
        self._logs.append(log)
        service.process = launch(service.argv, self.running.env)
        service.pump = threading.Thread(
            target=_copy_output, args=(service.process, log), name=f"relog-{name}", daemon=True
        )
        service.pump.start()

    def wait_ready(self, name: str, timeout: float) -> float | None:
        """Monotonic time the service answered its readiness probe, None after `timeout`."""
        service = self.service(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.ready():
                return time.monotonic()
            if service.process and service.process.poll() is not None:
                return None
            time.sleep(0.2)
        return None

    # -- memory -----------------------------------------------------------------------
    def rss_kib(self) -> dict[str, int]:
        """Resident memory of each service's process group (the service and its workers)."""
        out = {}
        for service in self.running.stack.services:
            if service.process is not None:
                out[service.name] = process_group_rss_kib(service.process.pid)
        return out

    def close(self) -> None:
        for log in self._logs:
            log.close()


def _copy_output(process: Any, log: IO[str]) -> None:
    with contextlib.suppress(ValueError):  # the log was closed: the run is over
        for line in process.stdout:
            log.write(line)
            log.flush()


@contextmanager
def running_rig() -> Iterator[Rig]:
    """Mock Slack and parrot LLM on loopback, then the real stack wired to them."""
    slack = StormySlack()
    slack.start()
    llm = ParrotOpenAI()
    env = stack_env(slack, llm)
    rig: Rig | None = None
    try:
        with start_stack(extra_env=env) as running:
            rig = Rig(running, slack, llm, env)
            yield rig
    finally:
        if rig is not None:
            rig.close()  # after the stack stopped: restarted services log here until then
        slack.stop()
        llm.close()


def process_group_rss_kib(pgid: int) -> int:
    """Sum of VmRSS over the live processes of a process group (psutil is not installed)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # The command name may hold spaces and parentheses: fields start after the last ')'.
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return total


# --- customers ---------------------------------------------------------------------------

REFUSALS: dict[str, tuple[str, ...]] = {}
try:  # the message guard's polite refusals, up to their number, in each language
    from parley_shared.language import SUPPORTED
    from parley_shared.message_guard import too_fast_reply, too_long_reply

    for kind, reply in (("too fast", too_fast_reply), ("too long", too_long_reply)):
        REFUSALS[kind] = tuple(os.path.commonprefix([reply(1, x), reply(2, x)]) for x in SUPPORTED)
except ImportError:
    pass


def refusal(replies: list[dict[str, Any]]) -> str:
    """ "too fast"/"too long" when the bot refused the message politely, else ""."""
    for r in replies:
        text = str(r.get("text") or "")
        for kind, prefix in REFUSALS.items():
            if text.startswith(prefix):
                return kind
    return ""


FALLBACK_QUESTIONS = (
    "How long does delivery to the UK take?",
    "How many days do I have to return something?",
    "How long does a refund to PayPal take?",
)


def support_questions() -> list[str]:
    """Questions the knowledge base answers (the answer-quality set), for realistic traffic."""
    path = ROOT / "bench" / "knowledge_qa_set.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        questions = [str(item["q"]) for item in data.get("answerable", [])]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        questions = []
    return questions or list(FALLBACK_QUESTIONS)


def customer_address(group: int, n: int) -> str:
    """A distinct private address per simulated customer (sent as X-Forwarded-For)."""
    return f"10.{group}.{n // 250 % 250}.{n % 250 + 1}"


@dataclass
class RestReply:
    status: int  # HTTP status, 0 when no response came
    replies: list[dict[str, Any]]
    error: str  # "" when the request was answered with 2xx
    seconds: float


def rest_send(
    client: httpx.Client,
    rasa_url: str,
    sender: str,
    text: str,
    metadata: dict[str, str] | None = None,
    timeout: float = 90.0,
    address: str = "",
) -> RestReply:
    body: dict[str, Any] = {"sender": sender, "message": text}
    if metadata:
        body["metadata"] = metadata
    headers = {"X-Forwarded-For": address} if address else {}
    started = time.perf_counter()
    try:
        r = client.post(
            f"{rasa_url}/webhooks/rest/webhook", json=body, timeout=timeout, headers=headers
        )
    except httpx.HTTPError as exc:
        return RestReply(0, [], type(exc).__name__, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if r.status_code >= 300:
        return RestReply(r.status_code, [], f"HTTP {r.status_code}", seconds)
    try:
        replies = r.json()
    except ValueError:
        return RestReply(r.status_code, [], "reply is not JSON", seconds)
    if not isinstance(replies, list):
        return RestReply(r.status_code, [], "reply is not a list", seconds)
    return RestReply(r.status_code, replies, "", seconds)


def tracker(client: httpx.Client, rasa_url: str, token: str, sender: str) -> dict[str, Any]:
    r = client.get(
        f"{rasa_url}/conversations/{sender}/tracker", params={"token": token}, timeout=60
    )
    r.raise_for_status()
    return dict(r.json())


def paused_before_last_message(tracker_json: dict[str, Any]) -> bool:
    """Whether the conversation was paused (handed to a person) when its last customer
    message arrived: the bot is then right to stay silent."""
    paused = False
    state_at_last_user = False
    for e in tracker_json.get("events", []):
        kind = e.get("event")
        if kind == "pause":
            paused = True
        elif kind == "resume":
            paused = False
        elif kind == "user":
            state_at_last_user = paused
    return state_at_last_user


@dataclass
class SocketIOExchange:
    events: list[dict[str, Any]]  # bot_uttered payloads, as the widget gets them
    error: str
    seconds: float


def socketio_send(
    rasa_url: str,
    session_id: str,
    text: str,
    metadata: dict[str, str] | None = None,
    first_reply_timeout: float = 90.0,
    quiet_seconds: float = 1.5,
    address: str = "",
) -> SocketIOExchange:
    """One message over Rasa's socket.io channel as the widget sends it (Engine.IO 4 over a
    WebSocket); collects bot_uttered events until none came for `quiet_seconds`."""
    return asyncio.run(
        _socketio_send(
            rasa_url, session_id, text, metadata, first_reply_timeout, quiet_seconds, address
        )
    )


async def _socketio_send(
    rasa_url: str,
    session_id: str,
    text: str,
    metadata: dict[str, str] | None,
    first_reply_timeout: float,
    quiet_seconds: float,
    address: str,
) -> SocketIOExchange:
    url = rasa_url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
    started = time.perf_counter()
    events: list[dict[str, Any]] = []
    try:
        headers = {"X-Forwarded-For": address} if address else {}
        async with websockets.connect(
            url, max_size=None, open_timeout=30, additional_headers=headers
        ) as ws:
            await _expect(ws, "0", 30)  # Engine.IO open
            await ws.send("40")
            await _expect(ws, "40", 30)  # socket.io namespace connected
            await ws.send("42" + json.dumps(["session_request", {"session_id": session_id}]))
            await _expect(ws, '42["session_confirm"', 30)
            message: dict[str, Any] = {"message": text, "session_id": session_id}
            if metadata:
                message["metadata"] = metadata
            await ws.send("42" + json.dumps(["user_uttered", message]))
            timeout = first_reply_timeout
            while True:
                try:
                    frame = await asyncio.wait_for(ws.recv(), timeout)
                except TimeoutError:
                    break
                if frame == "2":  # Engine.IO ping
                    await ws.send("3")
                    continue
                if isinstance(frame, str) and frame.startswith("42"):
                    name, *payload = json.loads(frame[2:])
                    if name == "bot_uttered" and payload:
                        events.append(payload[0])
                        timeout = quiet_seconds
        return SocketIOExchange(events, "", time.perf_counter() - started)
    except (OSError, TimeoutError, websockets.WebSocketException, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
        return SocketIOExchange(events, error, time.perf_counter() - started)


async def _expect(ws: Any, prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        frame = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
        if isinstance(frame, str) and frame.startswith(prefix):
            return frame
        if frame == "2":
            await ws.send("3")


# --- a Slack agent -----------------------------------------------------------------------


@dataclass
class SlackCall:
    accepted: bool
    attempts: int
    seconds: float


def slack_like_retries(
    post: Callable[[], httpx.Response], window: float, pause: float = 2.0
) -> SlackCall:
    """Post until the app answers 2xx, as Slack redelivers events to an app that is down.

    Slack itself retries three times (at once, after 1 and 5 minutes); this retries every
    `pause` seconds within `window`, so that an outage of a minute stays within a trial."""
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        try:
            if post().status_code < 300:
                return SlackCall(True, attempts, time.monotonic() - started)
        except httpx.HTTPError:
            pass
        if time.monotonic() - started + pause > window:
            return SlackCall(False, attempts, time.monotonic() - started)
        time.sleep(pause)


class SlackAgent:
    """Ana, working handoffs through signed Slack requests to the handoff service."""

    def __init__(self, rig: Rig, retry_window: float) -> None:
        self.rig = rig
        self.retry_window = retry_window
        self._ts = 1_800_000_000
        self._lock = threading.Lock()

    def next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            return f"{self._ts}.000100"

    def claim(self, handoff_id: str, packet_ts: str) -> SlackCall:
        payload = button(AGENT_USER, "handoff_claim", handoff_id, packet_ts)
        return slack_like_retries(
            lambda: interaction(self.rig.handoff_url, payload), self.retry_window
        )

    def reply(self, packet_ts: str, text: str, ts: str, redeliver: bool = False) -> SlackCall:
        """The agent's message in the packet's thread; `redeliver` sends the very same event
        a second time, as Slack does when an acknowledgement is late."""
        ev = {
            "type": "message",
            "channel": CHANNEL,
            "user": AGENT_USER,
            "text": text,
            "ts": ts,
            "thread_ts": packet_ts,
        }
        call = slack_like_retries(lambda: event(self.rig.handoff_url, ev), self.retry_window)
        if redeliver and call.accepted:
            slack_like_retries(lambda: event(self.rig.handoff_url, ev), self.retry_window)
        return call


def packet_for(slack: MockSlack, marker: str) -> list[dict[str, Any]]:
    """Top-level packets posted to the handoff channel that mention `marker`."""
    return [m for m in slack.top_level(CHANNEL) if marker in json.dumps(m, ensure_ascii=False)]


def handoff_id_of(packet: dict[str, Any]) -> str | None:
    for block in packet.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "actions":
            for element in block.get("elements", []):
                if element.get("action_id") == "handoff_claim":
                    return str(element.get("value"))
    return None


# --- the handoff database ----------------------------------------------------------------


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def pending_outbox(path: Path) -> int:
    """Deliveries the handoff service still has to make (0 when it has caught up)."""
    if not path.exists():
        return 0
    try:
        with contextlib.closing(read_only(path)) as con:
            row = con.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()
            return int(row[0])
    except sqlite3.Error:
        return -1  # busy or not created yet: not caught up as far as we know


def handoff_threads(path: Path) -> dict[str, list[str]]:
    """Slack thread timestamps of each conversation's handoffs."""
    with contextlib.closing(read_only(path)) as con:
        rows = con.execute(
            "SELECT sender_id, slack_ts FROM handoffs WHERE slack_ts IS NOT NULL ORDER BY id"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for sender, ts in rows:
        out.setdefault(str(sender), []).append(str(ts))
    return out


@contextmanager
def exclusive_lock(path: Path) -> Iterator[float]:
    """Hold SQLite's write lock on the database (a separate connection in BEGIN EXCLUSIVE);
    yields the monotonic time it was taken."""
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        con.execute("BEGIN EXCLUSIVE")
        yield time.monotonic()
        con.execute("ROLLBACK")
    finally:
        con.close()
