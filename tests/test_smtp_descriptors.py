"""Out of file descriptors: the listener answers 421, logs a little, and recovers.

A real `maildaemon serve` whose descriptor limit is lowered (prlimit on the running
process, so its worker keeps the usual limit) is filled with idle connections.
"""

from __future__ import annotations

import contextlib
import resource
import socket
from collections.abc import Iterator

import pytest

from maildaemon.descriptors import Throttle
from tests.conftest import ROOT, Installation, mail, wait_until

NOFILE = 40  # serve itself holds about a dozen
MAX_CONNECTIONS = 200


def greeting(sock: socket.socket) -> bytes:
    """The first line the server sends, or b"" if it sends none within the timeout."""
    try:
        return sock.makefile("rb").readline()
    except TimeoutError:
        return b""


@pytest.fixture
def crowd() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def connect(port: int, crowd: list[socket.socket]) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    crowd.append(sock)
    return greeting(sock)


@pytest.fixture
def daemon(installation: Installation) -> Iterator[Installation]:
    """Connection limits above what the descriptors allow: this is about the descriptors
    (the limits have their own tests in test_edge_limits.py)."""
    installation.config.write_text(installation.config.read_text().replace(
        "drain_seconds = 10.0", "drain_seconds = 10.0\nmax_connections_per_ip = 1000\n"
                                "max_connections = 1000"))
    installation.start()
    yield installation
    installation.kill()


@pytest.mark.slow
def test_out_of_descriptors_answers_421_logs_once_and_recovers(
    daemon: Installation, crowd: list[socket.socket]
) -> None:
    assert daemon.proc is not None
    resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    first_refusal = b""
    for _ in range(MAX_CONNECTIONS):
        line = connect(daemon.port, crowd)
        if not line.startswith(b"220"):
            first_refusal = line
            break
    assert first_refusal.startswith(b"421 4.3.2"), first_refusal
    # Every further client is answered too, not left waiting.
    assert [connect(daemon.port, crowd)[:9] for _ in range(5)] == [b"421 4.3.2"] * 5

    for sock in crowd:
        sock.close()
    crowd.clear()

    def accepted() -> bool:
        with contextlib.suppress(OSError):
            daemon.send(mail(subject="after the crowd"))
            return True
        return False

    wait_until(accepted, 20, "mail to be accepted again")
    assert [t["subject"] for t in daemon.wait_processed(1)] == ["after the crowd"]
    log = daemon.log.read_text()
    assert "Traceback" not in log
    assert log.count("cannot accept connections") == 1
    assert "Too many open files" in log


def test_throttle_lets_one_event_through_per_interval_with_the_count() -> None:
    now = [100.0]
    throttle = Throttle(60.0, clock=lambda: now[0])
    assert throttle.due() == 1
    assert [throttle.due() for _ in range(500)] == [None] * 500
    now[0] += 61
    assert throttle.due() == 501


def test_systemd_unit_raises_the_descriptor_limit() -> None:
    unit = (ROOT / "config" / "maildaemon.service").read_text()
    [line] = [line for line in unit.splitlines() if line.startswith("LimitNOFILE=")]
    assert int(line.split("=", 1)[1]) >= 65536
