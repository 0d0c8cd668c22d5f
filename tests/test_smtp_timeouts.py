"""`smtp.timeout` is idle time; `smtp.data_timeout` bounds a whole DATA upload.

A real `maildaemon serve` with a 2 s idle timeout and a 6 s DATA limit. The pauses are
well inside or well outside those bounds, for a noisy machine.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import DOMAIN, Installation

pytestmark = pytest.mark.slow  # every test here starts `maildaemon serve`

IDLE = 2.0
DATA_LIMIT = 6.0
STEP = 0.4  # between two lines of a slow upload: a fifth of the idle timeout


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = Installation(tmp_path_factory.mktemp("timeouts"))
    text = inst.config.read_text()
    inst.config.write_text(text.replace(
        "drain_seconds = 10.0", f"drain_seconds = 10.0\ntimeout = {IDLE}\n"
                                f"data_timeout = {DATA_LIMIT}"))
    inst.start()
    yield inst
    inst.kill()


def open_data(port: int) -> tuple[socket.socket, Iterator[bytes]]:
    """A session up to the 354; returns the socket and its replies, line by line."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    lines = iter(sock.makefile("rb"))
    next(lines)
    for command in (b"HELO t", b"MAIL FROM:<slow@example.org>",
                    f"RCPT TO:<support@{DOMAIN}>".encode(), b"DATA"):
        sock.sendall(command + b"\r\n")
        reply = next(lines)
    assert reply.startswith(b"354")
    return sock, lines


def trickle(sock: socket.socket, seconds: float) -> bytes:
    """Send a line every STEP for `seconds`; the first thing the server says meanwhile."""
    sock.settimeout(STEP)
    sock.sendall(b"From: slow@example.org\r\nSubject: slow\r\n\r\n")
    for number in range(int(seconds / STEP)):
        try:
            return sock.recv(1024)
        except TimeoutError:
            pass
        try:
            sock.sendall(b"line %d\r\n" % number)
        except OSError:  # closed on us: whatever it said before is still to be read
            sock.settimeout(5)
            with contextlib.suppress(OSError):
                return sock.recv(1024)
            return b""
    return b""


def test_a_slow_steady_upload_longer_than_the_idle_timeout_is_accepted(
    slow: Installation,
) -> None:
    sock, lines = open_data(slow.port)
    with sock:
        assert trickle(sock, 2 * IDLE) == b""  # nothing said meanwhile
        sock.sendall(b".\r\n")
        assert next(lines).startswith(b"250")
    assert [t["subject"] for t in slow.wait_processed(1)] == ["slow"]


def test_an_upload_longer_than_data_timeout_is_cut_with_421(slow: Installation) -> None:
    before = len(slow.tickets())
    sock, _ = open_data(slow.port)
    started = time.monotonic()
    with sock:
        said = trickle(sock, 3 * DATA_LIMIT)
    assert said.startswith(b"421 4.4.2"), said
    assert time.monotonic() - started >= DATA_LIMIT - 0.5
    slow.wait_spool_empty()
    assert len(slow.tickets()) == before


def test_silence_in_the_middle_of_data_is_cut_after_the_idle_timeout(
    slow: Installation,
) -> None:
    sock, _ = open_data(slow.port)
    with sock:
        sock.sendall(b"Subject: stalled\r\n\r\nhalf")
        sock.settimeout(DATA_LIMIT + 10)
        said = sock.recv(1024)
    assert said.startswith(b"421 4.4.2 Idle"), said
