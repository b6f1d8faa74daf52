"""scripts/servers.py: real PostgreSQL, Redis and RabbitMQ on loopback, installed from the
distribution's packages when missing, each answering a round trip, and nothing left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pika
import pytest
import redis
import sqlalchemy as sa

from scripts.servers import LocalServers, ServersError, ensure_installed

pytestmark = pytest.mark.servers
ROOT = Path(__file__).resolve().parents[2]


def sqlalchemy_url(url: str) -> sa.URL:
    # postgresql:// means psycopg2 to SQLAlchemy; this environment has psycopg 3.
    return sa.make_url(url).set(drivername="postgresql+psycopg")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_every_server_answers_and_stops(tmp_path: Path) -> None:
    with LocalServers(tmp_path, postgres=True, redis=True, rabbitmq=True) as servers:
        engine = sa.create_engine(sqlalchemy_url(servers.database_url))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_user, current_database()")).one() == (
                "parley",
                "parley",
            )
            conn.execute(sa.text("CREATE TABLE t (x int)"))
            conn.execute(sa.text("INSERT INTO t VALUES (41)"))
            conn.commit()
            assert conn.execute(sa.text("SELECT x + 1 FROM t")).scalar_one() == 42
        engine.dispose()

        # A fresh database: empty, and owned by the same role.
        other = servers.create_database("isolated")
        assert other.endswith("/isolated")
        engine = sa.create_engine(sqlalchemy_url(other))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT to_regclass('t')")).scalar_one() is None
        engine.dispose()

        client = redis.Redis.from_url(servers.redis_url)
        client.set("parley:test", "hello", ex=60)
        assert client.get("parley:test") == b"hello"
        client.close()

        connection = pika.BlockingConnection(pika.URLParameters(servers.amqp_url))
        channel = connection.channel()
        channel.queue_declare("parley-test")
        channel.basic_publish("", "parley-test", b"round trip")
        method, _properties, body = next(channel.consume("parley-test", inactivity_timeout=10))
        assert body == b"round trip"
        channel.basic_ack(method.delivery_tag)
        connection.close()

        ports = [servers.postgres_port, servers.redis_port, servers.amqp_port]
        pids = [p.popen.pid for p in servers._processes]
        assert all(port is not None and listening(port) for port in ports)
    assert not any(listening(port) for port in ports if port is not None)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_servers_stop_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), LocalServers(tmp_path, postgres=False) as s:
        port = s.redis_port or 0
        assert listening(port)
        raise RuntimeError("boom")
    assert not listening(port)


def test_a_url_of_a_server_not_started_says_so(tmp_path: Path) -> None:
    with LocalServers(tmp_path, postgres=False) as servers, pytest.raises(ServersError):
        servers.database_url  # noqa: B018


def test_nothing_to_install_when_everything_is_there() -> None:
    ensure_installed(["postgres", "redis", "rabbitmq"])  # as root: installs what is missing
    assert ensure_installed(["postgresql", "redis-server"]) == []
    with pytest.raises(ValueError, match="unknown server"):
        ensure_installed(["mysql"])


def test_the_command_prints_exports_and_stops_on_a_signal(tmp_path: Path) -> None:
    helped = subprocess.run(
        [sys.executable, "-m", "scripts.servers", "up", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert helped.returncode == 0 and "--rabbitmq" in helped.stdout

    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.servers", "up", "--dir", str(tmp_path), "--no-postgres"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("export REDIS_URL=redis://127.0.0.1:"), line
        url = line.split("=", 1)[1].strip()
        assert redis.Redis.from_url(url).ping()
        assert proc.stdout.readline().startswith("# started")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    deadline = time.monotonic() + 5
    while listening(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not listening(port)
