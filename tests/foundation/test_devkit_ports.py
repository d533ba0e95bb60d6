"""The dev-kit's free ports stay out of the kernel's ephemeral range (where any outgoing connection
can take a handed-out port before the service binds it) and are free when handed out."""

from __future__ import annotations

import socket

import pytest
from carbon_devkit import ports


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    handed = [ports.free_port() for _ in range(50)]
    low = ports.ephemeral_low()
    assert all(ports.LOWEST <= port < low for port in handed), (low, handed)
    for port in handed:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_listening_port_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        # Every draw hits the taken port: the kernel's choice (a different, free port) is the answer.
        monkeypatch.setattr(ports.secrets, "randbelow", lambda _n: taken - ports.LOWEST)
        monkeypatch.setattr(ports, "ephemeral_low", lambda: max(taken + 1, ports.LOWEST + 1_000))
        assert ports.free_port() != taken
