"""Free loopback ports for servers that are started now and bind a little later.

`bind(("127.0.0.1", 0))` hands out a port from the kernel's ephemeral range, the same range
every outgoing connection takes its local port from. Between choosing such a port and the
server binding it (RabbitMQ takes seconds), any client connection on the machine can take it,
and the server dies with "address in use". Ports chosen here lie below that range, where no
outgoing connection goes, and one process never hands out the same port twice.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Below this the well-known and registered services people run locally (PostgreSQL 5432,
# Redis 6379, 8000/8080 dev servers) are more likely to be listening.
LOWEST = 10_000
# Linux's default ephemeral range starts at 32768; used when the file cannot be read.
DEFAULT_EPHEMERAL_START = 32_768

_handed_out: set[int] = set()
_lock = threading.Lock()
_random = random.SystemRandom()


def ephemeral_start(path: Path = PORT_RANGE_FILE) -> int:
    """The first port of the kernel's ephemeral range."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_START


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, outside the ephemeral range, never returned before by
    this process. Falls back to the kernel's choice where that range leaves no room below."""
    top = ephemeral_start()
    with _lock:
        if top - LOWEST >= 1000:
            for _ in range(200):
                port = _random.randrange(LOWEST, top)
                if port not in _handed_out and _bindable(host, port):
                    _handed_out.add(port)
                    return port
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
