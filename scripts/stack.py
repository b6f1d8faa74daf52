"""Train (when needed) and start the whole bot on this machine.

Used by `make run` (scripts/run.py) and by the integration tests, so both start the
stack the same way: Rasa server (Python 3.10 venv), action server and the other
services (Python 3.11 venv), each a child process with its own log file.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from scripts.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
PYTHON_311 = ROOT / ".venv" / "bin" / "python"
# Everything a trained model depends on: change any of these and the model is retrained (the
# NLU featurizer runs the shared encoder). The channels (bot/*_channel.py) only run in the
# server, so editing them needs a restart, not a six-minute retraining.
MODEL_INPUTS = (
    "config.yml",
    "domain.yml",
    "bot/data",
    "bot/components",
    "bot/handoff_bridge.py",
    "bot/shared/parley_shared/encoder.py",
)
MODEL_PREFIX = "parley-"
# The RabbitMQ queue Rasa fills for the handoff service (handoff/event_broker.py).
EVENT_QUEUE = "parley_handoff"

# Keep Rasa's and TensorFlow's start-up noise out of the logs people read.
QUIET_ENV = {
    "PYTHONWARNINGS": "ignore",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "RASA_TELEMETRY_ENABLED": "false",
    "ANONYMIZED_TELEMETRY": "False",
}


WARNING_LINE = re.compile(r"\b\w*Warning: |Implementing implicit namespace packages")


class StackError(RuntimeError):
    """Something a person has to fix; the message says what."""


@dataclass(frozen=True)
class Settings:
    """Everything the stack needs, read once from the environment."""

    state_dir: Path
    models_dir: Path
    knowledge_dir: Path
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    actions_port: int = 5055
    web_port: int = 8080
    handoff_port: int = 3000
    handoff_internal_port: int = 3001
    # Only Rasa calls the action server: it stays on loopback whatever PARLEY_HOST says.
    actions_host: str = "127.0.0.1"
    rasa_token: str = ""
    handoff_token: str = ""
    # Servers for a site that outgrows one machine (empty: SQLite and memory, as by default).
    database_url: str = ""
    redis_url: str = ""
    rabbitmq_url: str = ""
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        state_dir = _path(env.get("PARLEY_STATE_DIR", "var"))
        return cls(
            state_dir=state_dir,
            models_dir=_path(env.get("RASA_MODELS_DIR", "models")),
            knowledge_dir=_path(env.get("KNOWLEDGE_DIR", "knowledge/articles")),
            host=env.get("PARLEY_HOST", "127.0.0.1"),
            rasa_port=_port(env, "RASA_PORT", 5005),
            actions_port=_port(env, "ACTIONS_PORT", 5055),
            web_port=_port(env, "WEB_PORT", 8080),
            handoff_port=_port(env, "HANDOFF_PORT", 3000),
            handoff_internal_port=_port(
                env, "HANDOFF_INTERNAL_PORT", _port(env, "HANDOFF_PORT", 3000) + 1
            ),
            actions_host=env.get("ACTIONS_HOST", "127.0.0.1"),
            rasa_token=env.get("RASA_TOKEN", ""),
            handoff_token=env.get("HANDOFF_INTERNAL_TOKEN", ""),
            database_url=env.get("PARLEY_DATABASE_URL", "").strip(),
            redis_url=env.get("REDIS_URL", "").strip(),
            rabbitmq_url=env.get("RABBITMQ_URL", "").strip(),
        )

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.actions_host}:{self.actions_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    @property
    def handoff_url(self) -> str:
        return f"http://{self.host}:{self.handoff_port}"

    @property
    def handoff_internal_url(self) -> str:
        """The handoff service's internal API: loopback only (handoff/settings.py)."""
        return f"http://127.0.0.1:{self.handoff_internal_port}"


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise StackError(f"{name} must be a port number, not {raw!r}.") from None
    if not 0 < port < 65536:
        raise StackError(f"{name} must be between 1 and 65535, not {port}.")
    return port


# --- the trained model -------------------------------------------------------------


def model_fingerprint(root: Path = ROOT, inputs: tuple[str, ...] = MODEL_INPUTS) -> str:
    """Content hash of everything the model is trained from."""
    digest = hashlib.sha256()
    for name in inputs:
        path = root / name
        if not path.exists():
            continue
        files = sorted(_model_files(path)) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(file.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def _model_files(folder: Path) -> list[Path]:
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    ]


def model_path(settings: Settings) -> Path:
    return settings.models_dir / f"{MODEL_PREFIX}{model_fingerprint()}.tar.gz"


def ensure_model(settings: Settings, output: IO[str] | None = None) -> Path:
    """Return the model for the current data, training it only if the data changed."""
    target = model_path(settings)
    if target.exists():
        return target
    check_rasa_venv()
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    print(f"Training the Rasa model ({target.name}); this takes a few minutes.", file=output)
    cmd = [
        str(RASA_BIN), "train",
        "--config", str(ROOT / "config.yml"),
        "--domain", str(ROOT / "domain.yml"),
        "--data", str(ROOT / "bot" / "data"),
        "--out", str(settings.models_dir),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, env=_base_env(), stdout=output, stderr=output)
    if result.returncode != 0 or not target.exists():
        raise StackError(
            f"Training the Rasa model failed (exit code {result.returncode}). "
            "The messages above say why; `make validate` checks the training data."
        )
    _remove_old_models(settings.models_dir, keep=target)
    return target


def _remove_old_models(models_dir: Path, keep: Path, how_many: int = 3) -> None:
    old = sorted(
        (p for p in models_dir.glob(f"{MODEL_PREFIX}*.tar.gz") if p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in old[how_many - 1 :]:
        path.unlink(missing_ok=True)


def check_rasa_venv() -> None:
    if not RASA_BIN.exists():
        raise StackError(
            f"The Rasa environment is missing ({RASA_BIN.parent.parent}). "
            "Run `make setup` (or `make run`, which does it for you)."
        )


# --- secrets and environment -------------------------------------------------------


def rasa_token(settings: Settings) -> str:
    """The token protecting Rasa's HTTP API: from RASA_TOKEN, else made once and kept."""
    return settings.rasa_token or _kept_token(settings, "rasa-token")


def handoff_token(settings: Settings) -> str:
    """The token protecting the handoff service's /internal/* API and its /report page: from
    HANDOFF_INTERNAL_TOKEN, else made once and kept."""
    return settings.handoff_token or _kept_token(settings, "handoff-token")


def _kept_token(settings: Settings, name: str) -> str:
    path = settings.state_dir / name
    if path.exists():
        return path.read_text().strip()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # Created private: never readable by others, not even for a moment.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(token + "\n")
    path.chmod(0o600)  # an existing file keeps its mode through O_CREAT
    return token


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(QUIET_ENV)
    return env


def child_env(settings: Settings, token: str, handoff_token: str = "") -> dict[str, str]:
    """Environment shared by every process of the stack."""
    env = _base_env()
    env.update(
        {
            "PARLEY_STATE_DIR": str(settings.state_dir),
            "KNOWLEDGE_DIR": str(settings.knowledge_dir),
            "ACTION_ENDPOINT_URL": f"{settings.actions_url}/webhook",
            "RASA_TRACKER_DB": str(settings.state_dir / "tracker.db"),
            "RASA_EVENTS_DB": str(settings.state_dir / "rasa_events.db"),
            "RASA_URL": settings.rasa_url,
            "RASA_TOKEN": token,
            "HANDOFF_PORT": str(settings.handoff_port),
            "HANDOFF_INTERNAL_PORT": str(settings.handoff_internal_port),
            "HANDOFF_URL": settings.handoff_internal_url,
            # The action server, the widget server and the console send it on /internal/*.
            "HANDOFF_INTERNAL_TOKEN": handoff_token,
            "ACTIONS_PORT": str(settings.actions_port),
            "RASA_PORT": str(settings.rasa_port),
            "WEB_PORT": str(settings.web_port),
            # rasa-sdk binds every interface unless told otherwise.
            "SANIC_HOST": settings.actions_host,
            # Sanic closes a websocket whose frame is over 1 MiB before the channel guard can
            # send its polite "too long" (the guard reads up to 2 MB: bot/channel_guard.py).
            "SANIC_WEBSOCKET_MAX_SIZE": str(4 * 1024 * 1024),
        }
    )
    env.update(settings.extra_env)  # a caller's explicit settings win
    return env


# --- processes ---------------------------------------------------------------------


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    url: str
    env: dict[str, str] = field(default_factory=dict)  # this process's own settings
    process: subprocess.Popen[str] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    pump: threading.Thread | None = None


def services(settings: Settings, model: Path, token: str, replicas: int = 1) -> list[Service]:
    """The processes to start. With `replicas` > 1, that many Rasa servers, action servers
    and handoff services (replica i's Rasa calls action server i, whose handoff calls go to
    handoff service i), all sharing the servers of PARLEY_DATABASE_URL and REDIS_URL."""
    host = settings.host
    endpoints = str(rasa_endpoints(settings))
    found: list[Service] = []
    for i in range(replicas):
        ports = (
            (settings.rasa_port, settings.actions_port, settings.handoff_port,
             settings.handoff_internal_port)
            if i == 0
            else (free_port(), free_port(), free_port(), free_port())
        )  # fmt: skip
        rasa_port, actions_port, handoff_port, internal_port = ports
        rasa_url = f"http://{host}:{rasa_port}"
        actions_url = f"http://{settings.actions_host}:{actions_port}"
        suffix = "" if i == 0 else f"-{i + 1}"
        found += [
            Service(
                "actions" + suffix,
                [str(PYTHON_311), "-m", "rasa_sdk", "--actions", "actions",
                 "--port", str(actions_port)],
                ready=partial(_http_ok, f"{actions_url}/health"),
                url=actions_url,
                env={"HANDOFF_URL": f"http://127.0.0.1:{internal_port}"},
            ),
            Service(
                "rasa" + suffix,
                [str(RASA_BIN), "run", "--model", str(model), "--enable-api",
                 # One argument: a token may begin with "-" (token_urlsafe), which
                 # argparse would read as an option of its own.
                 f"--auth-token={token}", "--cors", "*", "--interface", host,
                 "--port", str(rasa_port),
                 "--endpoints", endpoints,
                 "--credentials", str(ROOT / "credentials.yml")],
                ready=partial(_rasa_ready, rasa_url, token),
                url=rasa_url,
                env={"ACTION_ENDPOINT_URL": f"{actions_url}/webhook"},
            ),
        ]  # fmt: skip
        if (ROOT / "handoff" / "__main__.py").exists():
            found.append(
                Service(
                    "handoff" + suffix,
                    [str(PYTHON_311), "-m", "handoff", "serve"],
                    ready=partial(_port_open, host, handoff_port),
                    url=f"http://{host}:{handoff_port}",
                    env={
                        "HANDOFF_PORT": str(handoff_port),
                        "HANDOFF_INTERNAL_PORT": str(internal_port),
                        "RASA_URL": rasa_url,
                    },
                )
            )
    found.append(
        Service(
            "web",
            [str(PYTHON_311), "-m", "widget.server"],
            ready=lambda: _http_ok(f"{settings.web_url}/"),
            url=settings.web_url,
        )
    )
    return found


def _server(url: str, default_port: int) -> dict[str, Any]:
    """host, port, username, password and path of a server URL, for Rasa's endpoint keys."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise StackError(f"{url.split('@')[-1]!r} is not a server URL (scheme://host:port/...).")
    return {
        "url": parts.hostname,
        "port": parts.port or default_port,
        "username": urllib.parse.unquote(parts.username or ""),
        "password": urllib.parse.unquote(parts.password or ""),
        "path": parts.path.lstrip("/"),
    }


def rasa_endpoints(settings: Settings) -> Path:
    """endpoints.yml, or, when servers are configured, the same endpoints on them, written to
    the state folder (it holds their passwords: readable by this user only)."""
    if not (settings.database_url or settings.redis_url or settings.rabbitmq_url):
        return ROOT / "endpoints.yml"
    import yaml

    endpoints: dict[str, Any] = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    if settings.database_url:
        pg = _server(settings.database_url, 5432)
        name = pg.pop("path") or "parley"
        common = {"dialect": "postgresql", **{k: v for k, v in pg.items() if v != ""}}
        # The same store and broker classes as endpoints.yml's (bot/event_store.py), on them.
        store, broker = endpoints["tracker_store"]["type"], endpoints["event_broker"]["type"]
        endpoints["tracker_store"] = {"type": store, **common, "db": name}
        if not settings.rabbitmq_url:
            endpoints["event_broker"] = {"type": broker, **common, "db": f"{name}_events"}
            ensure_database(settings.database_url, f"{name}_events")
    if settings.redis_url:
        redis = _server(settings.redis_url, 6379)
        db = redis.pop("path") or "0"
        lock = {k: v for k, v in redis.items() if v != ""}
        endpoints["lock_store"] = {"type": "redis", **lock, "db": int(db), "key_prefix": "parley"}
    if settings.rabbitmq_url:
        mq = _server(settings.rabbitmq_url, 5672)
        mq.pop("path")
        endpoints["event_broker"] = {
            "type": "pika",
            **mq,
            "queues": [EVENT_QUEUE],
            "exchange_name": "rasa-exchange",
        }
    path = settings.state_dir / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(
        "# Written by scripts/stack.py from PARLEY_DATABASE_URL, REDIS_URL and RABBITMQ_URL.\n"
        + yaml.safe_dump(endpoints, sort_keys=False)
    )
    return path


def sqlite_wal(path: Path) -> None:
    """Put Rasa's SQLite file (tracker store, SQL event broker) in write-ahead-log mode before
    Rasa opens it: the mode stays with the file, so every commit appends to the log instead
    of rewriting a rollback journal (a turn commits several times), and the handoff service
    reads the broker's table without blocking Rasa's writes."""
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("PRAGMA journal_mode=WAL")


def ensure_database(url: str, name: str) -> None:
    """Create database `name` on `url`'s PostgreSQL server unless it exists (Rasa's SQL
    event broker does not create its database)."""
    from sqlalchemy import create_engine, text

    from handoff.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not found:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - say what to fix
        raise StackError(
            f"Could not reach PostgreSQL at PARLEY_DATABASE_URL to prepare database {name!r}: "
            f"{exc}. Check the URL, that the server runs, and that the user may create databases."
        ) from exc
    finally:
        engine.dispose()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError):
        return False


def _rasa_ready(rasa_url: str, token: str) -> bool:
    """Rasa answers /status with the model id only once the model is loaded."""
    try:
        with urllib.request.urlopen(f"{rasa_url}/status?token={token}", timeout=2) as response:
            return b'"model_id"' in response.read()
    except (OSError, urllib.error.URLError):
        return False


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child, before exec: if the supervisor dies (even by SIGKILL), so does the child.

    Linux sends the signal when the *thread* that started the child ends, so start children
    from a thread that lives as long as the stack (the main thread in `make run`)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: stop() still ends the whole process group


PR_SET_PDEATHSIG = 1


def launch(argv: list[str], env: Mapping[str, str], cwd: Path = ROOT) -> subprocess.Popen[str]:
    """A child in its own process group (Ctrl-C reaches only us; we stop the children in
    order), which dies with its supervisor."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
    )


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    # The child leads its own group: its workers (Sanic's, say) are in it too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop_processes(processes: list[subprocess.Popen[str]], grace: float = 10.0) -> None:
    """SIGTERM every child's whole process group, SIGKILL what is left after `grace` seconds,
    whatever the children are doing (a busy worker, a handler that ignores SIGTERM)."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        # Also when the leader exited: workers it left behind may still hold the index.
        _signal_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


class Stack:
    """The running processes. Use as a context manager, or call start()/stop()."""

    def __init__(self, settings: Settings, echo: IO[str] | None = None, replicas: int = 1) -> None:
        if replicas > 1 and not (settings.database_url and settings.redis_url):
            raise StackError(
                "Several replicas share one database and one lock store: set "
                "PARLEY_DATABASE_URL (PostgreSQL) and REDIS_URL."
            )
        self.settings = settings
        self.echo = echo
        self.replicas = replicas
        self.token = ""
        self.handoff_token = ""
        self.env: dict[str, str] = {}
        self.services: list[Service] = []
        self._logs: list[IO[str]] = []

    @property
    def rasa_url(self) -> str:
        return self.settings.rasa_url

    def start(self, model: Path | None = None, timeout: float = 240.0) -> None:
        settings = self.settings
        taken = [
            (name, port)
            for name, port in (
                ("RASA_PORT", settings.rasa_port),
                ("ACTIONS_PORT", settings.actions_port),
                ("WEB_PORT", settings.web_port),
                ("HANDOFF_PORT", settings.handoff_port),
                ("HANDOFF_INTERNAL_PORT", settings.handoff_internal_port),
            )
            if _port_open(settings.host, port)
        ]
        if taken:
            names = ", ".join(f"{port} ({name})" for name, port in taken)
            raise StackError(
                f"Port {names} is already in use. Stop what is using it, or choose "
                "another port with that environment variable."
            )
        model = model or ensure_model(settings, self.echo)
        self.token = rasa_token(settings)
        self.handoff_token = handoff_token(settings)
        self.env = child_env(settings, self.token, self.handoff_token)
        if not settings.database_url:
            for name in ("RASA_TRACKER_DB", "RASA_EVENTS_DB"):
                sqlite_wal(Path(self.env[name]))
        self.index_knowledge()
        logs_dir = settings.state_dir / "logs"
        logs_dir.mkdir(parents=True, exist_ok=True)
        self.services = services(settings, model, self.token, self.replicas)
        # The first replica of each process first: on a fresh database each creates its tables
        # at start, and two doing it at once collide. The others follow once it is up.
        first = [s for s in self.services if "-" not in s.name]
        for group in (first, [s for s in self.services if s not in first]):
            for service in group:
                log = open(logs_dir / f"{service.name}.log", "a", encoding="utf-8")  # noqa: SIM115
                self._logs.append(log)
                service.process = launch(service.argv, {**self.env, **service.env})
                service.pump = threading.Thread(
                    target=self._pump, args=(service, log), name=f"log-{service.name}", daemon=True
                )
                service.pump.start()
            self.wait_ready(timeout, group)

    def index_knowledge(self) -> None:
        """Index new and changed articles before the action server starts.

        The action server keeps the index up to date while it runs; doing the first (or
        catch-up) run here shows its progress and spares the first customer the wait.
        """
        if not (ROOT / "knowledge" / "__main__.py").exists():
            return
        if self.echo:
            print("Indexing the knowledge base…", file=self.echo, flush=True)
        result = subprocess.run(
            [str(PYTHON_311), "-m", "knowledge", "index"],
            cwd=ROOT,
            env=self.env,
            stdout=self.echo or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if result.returncode != 0 and self.echo:
            # Broken articles or a busy index are reported above; the bot serves the last
            # good index and catches up by itself.
            print("Indexing did not finish (see above).", file=self.echo, flush=True)

    def _pump(self, service: Service, log: IO[str]) -> None:
        assert service.process and service.process.stdout
        in_warning = False
        for line in service.process.stdout:
            service.tail.append(line.rstrip())
            log.write(line)
            log.flush()
            # Library deprecation warnings (and the source line after each) stay in the log file.
            in_warning = bool(WARNING_LINE.search(line)) or (in_warning and line.startswith("  "))
            if self.echo and not in_warning:
                print(f"[{service.name}] {line.rstrip()}", file=self.echo, flush=True)

    def wait_ready(self, timeout: float, services: list[Service] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = list(self.services if services is None else services)
        while pending:
            crashed = self.crashed()
            if crashed:
                raise StackError(self.describe_crash(crashed))
            pending = [s for s in pending if not s.ready()]
            if pending and time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                raise StackError(
                    f"{names} did not become ready within {timeout:.0f} s; "
                    f"see the logs in {self.settings.state_dir / 'logs'}."
                )
            time.sleep(0.3)

    def crashed(self) -> Service | None:
        for service in self.services:
            if service.process and service.process.poll() is not None:
                return service
        return None

    def describe_crash(self, service: Service) -> str:
        assert service.process
        if service.pump:
            service.pump.join(timeout=2)  # read what it printed before it died
        tail = "\n".join(f"    {line}" for line in list(service.tail)[-15:])
        return (
            f"The {service.name} process stopped unexpectedly "
            f"(exit code {service.process.returncode}). Its last lines:\n{tail}\n"
            f"Full log: {self.settings.state_dir / 'logs' / (service.name + '.log')}"
        )

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise StackError(f"no service called {name!r}")

    def stop_service(self, name: str, grace: float = 10.0) -> None:
        """Stop one process (a replica going down); `start_service` brings it back."""
        service = self.service(name)
        if service.process:
            stop_processes([service.process], grace)
            if service.pump:
                service.pump.join(timeout=5)
            service.process = None

    def start_service(self, name: str, timeout: float = 120.0) -> None:
        service = self.service(name)
        log = open(  # noqa: SIM115 - closed with the others in stop()
            self.settings.state_dir / "logs" / f"{service.name}.log", "a", encoding="utf-8"
        )
        self._logs.append(log)
        service.process = launch(service.argv, {**self.env, **service.env})
        service.pump = threading.Thread(
            target=self._pump, args=(service, log), name=f"log-{service.name}", daemon=True
        )
        service.pump.start()
        deadline = time.monotonic() + timeout
        while not service.ready():
            if service.process.poll() is not None:
                raise StackError(self.describe_crash(service))
            if time.monotonic() > deadline:
                raise StackError(f"{name} did not become ready within {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self, grace: float = 10.0) -> None:
        stop_processes([s.process for s in reversed(self.services) if s.process], grace)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
