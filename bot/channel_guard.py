"""The message guard (parley_shared/message_guard.py) as the Rasa channels use it: one per server
process, so the REST and socket.io channels count against the same limits.

The client address is Sanic's: the socket's peer, or, when Rasa runs behind a reverse proxy
and Sanic is told to trust it (SANIC_PROXIES_COUNT=1, or SANIC_REAL_IP_HEADER), the address
the proxy forwarded. Without that setting every customer behind the proxy shares one address.
"""

from __future__ import annotations

from typing import Any

from parley_shared.message_guard import (
    Admitted,
    GuardSettings,
    MessageGuard,
    Refused,
)

__all__ = ["MAX_REQUEST_BYTES", "Admitted", "Refused", "client_address", "shared_guard"]

# Largest REST body or socket.io packet read at all. Well above the message limit on purpose:
# up to here an over-long message gets the polite reply; beyond it the request is not even
# parsed (the REST channel answers with the polite refusal, socket.io closes the connection).
MAX_REQUEST_BYTES = 2_000_000

_guard: MessageGuard | None = None


def shared_guard() -> MessageGuard:
    """The process's guard, configured from the environment on first use."""
    global _guard
    if _guard is None:
        _guard = MessageGuard(GuardSettings.from_env())
    return _guard


def client_address(request: Any) -> str:
    """The customer's IP address for a Sanic request ("" when unknown)."""
    if request is None:
        return ""
    return str(getattr(request, "remote_addr", "") or getattr(request, "ip", "") or "")
