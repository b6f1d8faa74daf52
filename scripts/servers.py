"""Throw-away PostgreSQL, Redis and RabbitMQ servers on loopback, for tests and benchmarks.

Parley needs none of them: without `PARLEY_DATABASE_URL` and `REDIS_URL` everything stays on
SQLite and in memory. The code paths for several replicas are tested against real servers that
this module installs from the distribution's packages (Debian: `apt-get`, as root) and starts
on free loopback ports with all their data under one folder:

    with LocalServers(tmp_dir, rabbitmq=True) as servers:
        servers.database_url   # postgresql://parley:…@127.0.0.1:PORT/parley
        servers.redis_url      # redis://127.0.0.1:PORT/0
        servers.amqp_url       # amqp://guest:guest@127.0.0.1:PORT/%2F
        servers.create_database("other")  # the URL of a fresh, empty database

Everything started is stopped when the block ends, also on errors. From a shell:

    .venv/bin/python -m scripts.servers up --dir var/servers [--rabbitmq]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from scripts.ports import free_port

SERVERS = ("postgres", "redis", "rabbitmq")
# Debian's package for each server.
PACKAGES = {"postgres": "postgresql", "redis": "redis-server", "rabbitmq": "rabbitmq-server"}
ALIASES = {
    "postgresql": "postgres",
    "redis-server": "redis",
    "rabbitmq-server": "rabbitmq",
    "amqp": "rabbitmq",
}
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0
DATABASE_USER = "parley"
DATABASE_NAME = "parley"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


class ServersError(RuntimeError):
    """A server could not be installed or started; the message says why and what to do."""


# --- installing -------------------------------------------------------------------------


def _canonical(name: str) -> str:
    name = ALIASES.get(name.lower(), name.lower())
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}; expected one of {', '.join(SERVERS)}")
    return name


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries (/usr/lib/postgresql/<version>/bin on
    Debian), or the folder of `postgres` on PATH; None when there is none."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    return None


def _redis_binary() -> Path | None:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    return Path(found) if found else None


def _rabbitmq_binary() -> Path | None:
    # Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user and logs to its own
    # folders; the script it wraps runs as whoever calls it and honours RABBITMQ_* variables.
    for candidate in ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server"):
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    found = shutil.which("rabbitmq-server")
    return Path(found) if found else None


def _epmd_binary() -> Path | None:
    found = shutil.which("epmd") or next(iter(glob.glob("/usr/lib/erlang/erts-*/bin/epmd")), None)
    return Path(found) if found else None


def is_installed(name: str) -> bool:
    name = _canonical(name)
    if name == "postgres":
        return postgres_bin_dir() is not None
    if name == "redis":
        return _redis_binary() is not None
    return _rabbitmq_binary() is not None and _epmd_binary() is not None


def ensure_installed(which: Iterable[str]) -> list[str]:
    """Install the servers in `which` ("postgres", "redis", "rabbitmq") that are missing, with
    `apt-get update` and `apt-get install -y --no-install-recommends` (needs root). Returns
    the Debian packages it installed (empty when all were there already)."""
    missing = [PACKAGES[n] for n in dict.fromkeys(map(_canonical, which)) if not is_installed(n)]
    if not missing:
        return []
    wanted = " ".join(missing)
    if shutil.which("apt-get") is None:
        raise ServersError(
            f"{wanted} not installed and apt-get is not available to install "
            f"{'it' if len(missing) == 1 else 'them'}; install {wanted} with this system's "
            "package manager (the binaries must be on PATH, PostgreSQL's initdb and postgres too)"
        )
    if os.geteuid() != 0:
        raise ServersError(
            f"{wanted} not installed; installing needs root: sudo apt-get install -y "
            f"--no-install-recommends {wanted}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Packages start their system-wide service after installing; these servers are started
    # per test instead, so forbid that (Docker images ship the same policy file).
    added_policy = False
    if not POLICY_RC_D.exists():
        POLICY_RC_D.write_text("#!/bin/sh\n# Written by parley scripts/servers.py.\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
        added_policy = True
    try:
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        ):
            done = subprocess.run(
                command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
            )
            if done.returncode != 0:
                output = (done.stdout + done.stderr).strip().splitlines()[-20:]
                raise ServersError(
                    f"`{' '.join(command)}` failed (exit {done.returncode}):\n" + "\n".join(output)
                )
    finally:
        if added_policy:
            POLICY_RC_D.unlink(missing_ok=True)
    still = [PACKAGES[n] for n in SERVERS if PACKAGES[n] in missing and not is_installed(n)]
    if still:
        raise ServersError(f"apt-get installed {wanted} but {' '.join(still)} is still missing")
    return missing


# --- starting ---------------------------------------------------------------------------


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(empty log)"


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM
    after_stop: list[Callable[[], None]] = field(default_factory=list)

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise ServersError(
                f"{self.name} exited with status {self.popen.returncode} while starting; "
                f"its log ({self.log}):\n{_tail(self.log)}"
            )

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, self.stop_signal)
            try:
                self.popen.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        # Children left in the group (a server's workers) go with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        for step in self.after_stop:
            with contextlib.suppress(Exception):
                step()


def _wait_until(what: str, ready: Callable[[], bool], process: _Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        process.check_alive()
        try:
            if ready():
                return
        except Exception as error:  # not accepting connections yet
            last_error = error
        time.sleep(0.1)
    raise ServersError(
        f"{what} did not accept connections within {timeout:.0f} s "
        f"(last error: {last_error}); its log ({process.log}):\n{_tail(process.log)}"
    )


def _accepts(port: int) -> bool:
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    return True


def _redis_pong(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def _sql_identifier(name: str) -> str:
    if not name or not all(c.isalnum() or c == "_" for c in name) or name[0].isdigit():
        raise ValueError(f"database name must be letters, digits and _, got {name!r}")
    return name.lower()


class LocalServers:
    """Start PostgreSQL, Redis and (optionally) RabbitMQ on free loopback ports with their
    data under `root`; a context manager that stops them all when it exits.

    Installs what is missing first (`ensure_installed`) unless `install=False`.
    """

    def __init__(
        self,
        root: Path,
        postgres: bool = True,
        redis: bool = True,
        rabbitmq: bool = False,
        *,
        install: bool = True,
        timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        self.root = Path(root).resolve()
        self.want = {"postgres": postgres, "redis": redis, "rabbitmq": rabbitmq}
        self.install = install
        self.timeout = timeout
        self.postgres_port: int | None = None
        self.redis_port: int | None = None
        self.amqp_port: int | None = None
        self.postgres_dir: Path | None = None
        self._superuser_password = secrets.token_urlsafe(18)
        self.password = secrets.token_urlsafe(18)
        self._processes: list[_Process] = []
        self._cleanups: list[Callable[[], None]] = []
        self._databases: set[str] = set()
        # Seconds each step took (install, and each server until it accepted connections).
        self.timings: dict[str, float] = {}

    # -- URLs ------------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self._database_url(DATABASE_NAME)

    @property
    def redis_url(self) -> str:
        if self.redis_port is None:
            raise ServersError("Redis was not started (LocalServers(..., redis=True))")
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def amqp_url(self) -> str:
        if self.amqp_port is None:
            raise ServersError("RabbitMQ was not started (LocalServers(..., rabbitmq=True))")
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    def _database_url(self, name: str, user: str = DATABASE_USER, password: str = "") -> str:
        if self.postgres_port is None:
            raise ServersError("PostgreSQL was not started (LocalServers(..., postgres=True))")
        return (
            f"postgresql://{user}:{password or self.password}@127.0.0.1:{self.postgres_port}/{name}"
        )

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database owned by the `parley` role; returns its URL. Without a
        name one is made up."""
        name = _sql_identifier(name or f"parley_{secrets.token_hex(4)}")
        if name in self._databases:
            raise ServersError(f"database {name} exists already")
        self._admin(f'CREATE DATABASE "{name}" OWNER "{DATABASE_USER}"')
        self._databases.add(name)
        return self._database_url(name)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LocalServers:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        wanted = [name for name, on in self.want.items() if on]
        if self.install:
            began = time.monotonic()
            ensure_installed(wanted)
            self.timings["install"] = time.monotonic() - began
        self.root.mkdir(parents=True, exist_ok=True)
        # Every server is launched first and then waited for, so their start-ups overlap
        # (RabbitMQ's takes seconds).
        began = time.monotonic()
        waits: list[tuple[str, Callable[[], None]]] = []
        if self.want["rabbitmq"]:
            waits.append(("rabbitmq", self._launch_rabbitmq()))
        if self.want["postgres"]:
            waits.append(("postgres", self._launch_postgres()))
        if self.want["redis"]:
            waits.append(("redis", self._launch_redis()))
        for name, wait in waits:
            wait()
            self.timings[name] = time.monotonic() - began

    def stop(self) -> None:
        """Stop everything started (newest first) and remove temporary folders; safe to call
        more than once."""
        while self._processes:
            self._processes.pop().stop()
        while self._cleanups:
            with contextlib.suppress(Exception):
                self._cleanups.pop()()

    def _spawn(
        self,
        name: str,
        command: Sequence[str | os.PathLike[str]],
        *,
        env: dict[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> _Process:
        log = self.root / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                [os.fspath(part) for part in command],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                user=user,
                # Own process group: stopping it stops the server's children too, and a
                # Ctrl-C in the terminal reaches only this script, which then stops them.
                start_new_session=True,
            )
        process = _Process(name, popen, log, stop_signal)
        self._processes.append(process)
        return process

    # -- PostgreSQL ------------------------------------------------------------------------

    def _launch_postgres(self) -> Callable[[], None]:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise ServersError(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres and no "
                "postgres on PATH); ensure_installed(['postgres']) or apt-get install postgresql"
            )
        user = self._postgres_user()
        data = self._postgres_data_dir(user)
        self.postgres_dir = data
        port = free_port()
        # initdb reads the superuser's password from a file, readable by that user alone.
        password_file = data.parent / f".{data.name}-password"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self._superuser_password + "\n")
        if user is not None:
            os.chown(password_file, pwd.getpwnam(user).pw_uid, -1)
        initdb = subprocess.run(
            [
                os.fspath(bin_dir / "initdb"),
                "-D",
                os.fspath(data),
                "-U",
                "postgres",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            user=user,
            cwd=data,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        password_file.unlink(missing_ok=True)
        if initdb.returncode != 0:
            output = (initdb.stdout + initdb.stderr)[-3000:]
            raise ServersError(f"initdb failed (exit {initdb.returncode}):\n{output}")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": os.fspath(data),
            # Throw-away data: speed over durability.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        command: list[str | os.PathLike[str]] = [bin_dir / "postgres", "-D", data]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        # SIGINT is PostgreSQL's fast shutdown (roll back, close connections, stop).
        process = self._spawn("postgres", command, user=user, cwd=data, stop_signal=signal.SIGINT)
        self.postgres_port = port

        def wait() -> None:
            _wait_until("PostgreSQL", self._postgres_ready, process, self.timeout)
            self._admin(
                f"CREATE ROLE \"{DATABASE_USER}\" LOGIN PASSWORD '{self.password}'",
                f'CREATE DATABASE "{DATABASE_NAME}" OWNER "{DATABASE_USER}"',
            )
            self._databases.add(DATABASE_NAME)

        return wait

    def _postgres_user(self) -> str | None:
        """PostgreSQL refuses to run as root: as root it runs as the `postgres` system user
        (created by Debian's package), otherwise as whoever runs this."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise ServersError(
                "running as root, PostgreSQL needs the `postgres` system user (apt-get install "
                "postgresql creates it): useradd --system postgres"
            ) from None
        return "postgres"

    def _postgres_data_dir(self, user: str | None) -> Path:
        data = self.root / "postgres"
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        if user is None:
            return data
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
        data.chmod(0o700)
        if _can_reach(user, data):
            return data
        # A folder on the way is closed to other users (pytest's tmp_path is under a 0700
        # folder, /root is 0700): keep PostgreSQL's data in a private temporary folder and
        # say where in root/postgres.where.
        data.rmdir()
        private = Path(tempfile.mkdtemp(prefix="parley-postgres-"))
        self._cleanups.append(lambda: shutil.rmtree(private, ignore_errors=True))
        os.chown(private, entry.pw_uid, entry.pw_gid)
        data = private / "data"
        data.mkdir(mode=0o700)
        os.chown(data, entry.pw_uid, entry.pw_gid)
        (self.root / "postgres.where").write_text(f"{data}\n")
        return data

    def _postgres_ready(self) -> bool:
        import psycopg

        with psycopg.connect(self._admin_url(), connect_timeout=2) as connection:
            connection.execute("SELECT 1")
        return True

    def _admin_url(self) -> str:
        return self._database_url("postgres", "postgres", self._superuser_password)

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self._admin_url(), autocommit=True, connect_timeout=5) as conn:
            for statement in statements:
                conn.execute(statement.encode())

    # -- Redis -----------------------------------------------------------------------------

    def _launch_redis(self) -> Callable[[], None]:
        binary = _redis_binary()
        if binary is None:
            raise ServersError("redis-server is not installed; apt-get install redis-server")
        data = self.root / "redis"
        data.mkdir(parents=True, exist_ok=True)
        port = free_port()
        process = self._spawn(
            "redis",
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                data,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
        )
        self.redis_port = port
        return lambda: _wait_until("Redis", lambda: _redis_pong(port), process, self.timeout)

    # -- RabbitMQ --------------------------------------------------------------------------

    def _launch_rabbitmq(self) -> Callable[[], None]:
        binary, epmd = _rabbitmq_binary(), _epmd_binary()
        if binary is None or epmd is None:
            raise ServersError("rabbitmq-server is not installed; apt-get install rabbitmq-server")
        base = self.root / "rabbitmq"
        for sub in ("mnesia", "log", "home"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        # An empty config: nothing from /etc/rabbitmq (the system server's settings) applies.
        (base / "rabbitmq.conf").write_text("loopback_users.guest = true\n")
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")
        amqp_port, dist_port, epmd_port = free_port(), free_port(), free_port()
        node = f"parley{amqp_port}@localhost"
        env = {
            **os.environ,
            "HOME": os.fspath(base / "home"),  # its Erlang cookie
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp_port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": os.fspath(base / "mnesia"),
            "RABBITMQ_LOG_BASE": os.fspath(base / "log"),
            "RABBITMQ_CONFIG_FILE": os.fspath(base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.fspath(base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": os.fspath(base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.fspath(base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": os.fspath(base / "rabbitmq.pid"),
            "RABBITMQ_LOGS": "-",  # to stdout, which is rabbitmq.log
        }
        # Its own epmd (Erlang's port mapper), a child of this process on its own port, so
        # nothing outlives the servers and two of them never share one.
        epmd_process = self._spawn(
            "epmd", [epmd, "-address", "127.0.0.1", "-port", str(epmd_port)], env=env
        )
        _wait_until("epmd", lambda: _accepts(epmd_port), epmd_process, self.timeout)
        process = self._spawn("rabbitmq", [binary], env=env, cwd=base)
        self.amqp_port = amqp_port
        return lambda: _wait_until("RabbitMQ", self._amqp_ready, process, self.timeout)

    def _amqp_ready(self) -> bool:
        import pika

        parameters = pika.URLParameters(self.amqp_url + "?connection_attempts=1&socket_timeout=2")
        connection = pika.BlockingConnection(parameters)
        connection.close()
        return True


def _can_reach(user: str, path: Path) -> bool:
    """Whether `user` can write in `path` (every folder on the way open to it)."""
    done = subprocess.run(["test", "-w", os.fspath(path), "-a", "-x", os.fspath(path)], user=user)
    return done.returncode == 0


# --- command line -----------------------------------------------------------------------


def _export_lines(servers: LocalServers) -> Iterator[str]:
    if servers.want["postgres"]:
        yield f"export PARLEY_DATABASE_URL={servers.database_url}"
    if servers.want["redis"]:
        yield f"export REDIS_URL={servers.redis_url}"
    if servers.want["rabbitmq"]:
        yield f"export AMQP_URL={servers.amqp_url}"


def main(argv: Sequence[str] | None = None, out: IO[str] = sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.servers",
        description=(
            "Start throw-away PostgreSQL and Redis (and RabbitMQ with --rabbitmq) on free "
            "loopback ports for trying Parley with several replicas, tests and benchmarks. "
            "Installs missing servers with apt-get (Debian, as root). Prints the `export` "
            "lines to paste into the shell that starts Parley, then waits; Ctrl-C stops the "
            "servers (their data is not kept)."
        ),
        epilog="Example: .venv/bin/python -m scripts.servers up --dir var/servers --rabbitmq",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser(
        "up",
        help="start the servers and wait until Ctrl-C",
        description="Start the servers, print their URLs as export lines, wait until Ctrl-C.",
    )
    up.add_argument(
        "--dir",
        type=Path,
        required=True,
        help="folder for the servers' data and logs (created; PostgreSQL's data is replaced)",
    )
    up.add_argument("--rabbitmq", action="store_true", help="start RabbitMQ too")
    up.add_argument("--no-postgres", action="store_true", help="do not start PostgreSQL")
    up.add_argument("--no-redis", action="store_true", help="do not start Redis")
    up.add_argument(
        "--no-install", action="store_true", help="fail instead of installing missing servers"
    )
    args = parser.parse_args(argv)

    servers = LocalServers(
        args.dir,
        postgres=not args.no_postgres,
        redis=not args.no_redis,
        rabbitmq=args.rabbitmq,
        install=not args.no_install,
    )
    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        with servers:
            for line in _export_lines(servers):
                print(line, file=out)
            timings = ", ".join(f"{k} {v:.1f} s" for k, v in servers.timings.items())
            print(f"# started ({timings}); logs in {servers.root}; Ctrl-C stops", file=out)
            out.flush()
            with contextlib.suppress(KeyboardInterrupt):
                while not stop:
                    time.sleep(0.5)
    except ServersError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
