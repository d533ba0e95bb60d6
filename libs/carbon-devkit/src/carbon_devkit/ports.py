"""Free local TCP ports for services started by the dev-kit.

A port is handed out before the service binds it (its peers must know it first). A port from the
kernel's ephemeral range can be taken in that gap by the source side of any outgoing connection on
the machine, which on a busy shared machine happens (a service then fails with "address already in
use"). So ports are drawn at random below the ephemeral range, where only listeners live, and
checked to be free; the kernel's choice is the fallback when that range is too small.

A port stays free until its service binds it, so a second draw in that gap could return it again (two
services of one stack on one port: the later one fails to bind while probes reach the earlier one). A
process therefore never hands out the same port twice.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20_000  # above well-known and registered service ports in common use (and `make run`'s)
ATTEMPTS = 100
_handed_out: set[int] = set()  # every port this process has returned


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 by default on Linux)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port nothing listens on right now, below the ephemeral range when there is room."""
    high = ephemeral_low()
    if high - LOWEST >= 1_000:
        for _ in range(ATTEMPTS):
            # Not the `random` module: test runners reseed it, and parallel runs would draw alike.
            port = LOWEST + secrets.randbelow(high - LOWEST)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
