"""Ports for servers started later: outside the range outgoing connections use, never twice."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from scripts import ports


def test_ports_lie_below_the_ephemeral_range_and_never_repeat() -> None:
    start = ports.ephemeral_start()
    chosen = [ports.free_port() for _ in range(300)]
    assert len(set(chosen)) == len(chosen)
    assert all(ports.LOWEST <= port < start for port in chosen)


def test_a_port_someone_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    real_randrange = ports._random.randrange
    with socket.socket() as busy:
        # Bound here, not through free_port, so only the bind check can turn it down.
        for taken in range(ports.LOWEST + 500, ports.LOWEST + 600):
            if taken not in ports._handed_out:
                try:
                    busy.bind(("127.0.0.1", taken))
                    break
                except OSError:
                    continue
        busy.listen()
        offers = iter([taken, taken])
        monkeypatch.setattr(
            ports._random,
            "randrange",
            lambda low, high: next(offers, None) or real_randrange(low, high),
        )
        port = ports.free_port()
        assert next(offers, None) is None  # both offers of the busy port were turned down
    assert port != taken


def test_the_ephemeral_range_is_read_from_the_kernel(tmp_path: Path) -> None:
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("40000\t60999\n")
    assert ports.ephemeral_start(range_file) == 40000
    assert ports.ephemeral_start(tmp_path / "missing") == ports.DEFAULT_EPHEMERAL_START


def test_with_no_room_below_the_range_the_kernel_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "ephemeral_start", lambda: ports.LOWEST + 10)
    port = ports.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # it was free
