"""A free TCP port on 127.0.0.1, for the servers the tests start (conftest.py re-exports it;
pg_server.py, which conftest imports, takes it from here)."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
