"""The DATA phase of our edge: the exact bytes a client sends are the bytes we spool.

Run against our real protocol class on a 127.0.0.1 listener in the test's event loop, with
a real spool; the spool's rows are read back to compare byte for byte.
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildaemon.spool import Spool
from tests.test_smtp_faults import Listener

DOMAIN = "healthsync.com"


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    lst = Listener(Spool(tmp_path), size_limit=300_000)
    yield lst
    lst.close()


def spooled(tmp_path: Path) -> list[bytes]:
    return [entry.raw for entry in Spool(tmp_path).claim_batch(100)]


def send_raw(port: int, data: bytes) -> bytes:
    """Speak SMTP by hand so the wire bytes are exactly ours; returns the reply to DATA."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def reply() -> bytes:
            while True:
                line = reader.readline()
                if line[3:4] != b"-":
                    return line

        reply()
        for command in (b"EHLO t", b"MAIL FROM:<a@example.org>",
                        f"RCPT TO:<support@{DOMAIN}>".encode(), b"DATA"):
            sock.sendall(command + b"\r\n")
            reply()
        sock.sendall(data)
        return reply()


@pytest.mark.parametrize("body", [
    b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\nend.\r\n.\r\n.x\r\n",
    b"Subject: tail\r\n\r\nlast line without dot",
    b"",
    b"Subject: long\r\n\r\n" + b"x" * 5000 + b"\r\n",
    b"Subject: crlf.crlf in middle\r\n\r\na\r\n..\r\nb\r\n",
])
def test_bytes_survive_dot_stuffing_exactly(listener: Listener, tmp_path: Path,
                                            body: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        client.sendmail("a@example.org", [f"support@{DOMAIN}"], body)
    expected = body if body.endswith(b"\r\n") else body + b"\r\n"  # smtplib ends the last line
    assert spooled(tmp_path) == [expected]


def test_empty_message_and_terminator_split_across_reads(listener: Listener,
                                                         tmp_path: Path) -> None:
    assert send_raw(listener.port, b".\r\n").startswith(b"250")
    big = b"Subject: big\r\n\r\n" + (b"A" * 998 + b"\r\n") * 200  # many 64 KB reads
    assert send_raw(listener.port, big + b".\r\n").startswith(b"250")
    assert spooled(tmp_path) == [b"", big]


def test_over_the_limit_is_552_after_the_whole_message(listener: Listener,
                                                       tmp_path: Path) -> None:
    huge = b"Subject: huge\r\n\r\n" + b"B" * 400_000 + b"\r\n.\r\n"
    assert send_raw(listener.port, huge).startswith(b"552 5.3.4")
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        client.sendmail("a@example.org", [f"support@{DOMAIN}"], b"Subject: next\r\n\r\nok\r\n")
    assert spooled(tmp_path) == [b"Subject: next\r\n\r\nok\r\n"]


def test_client_vanishing_mid_data_leaves_nothing_and_no_harm(listener: Listener,
                                                              tmp_path: Path) -> None:
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        for command in (b"HELO t", b"MAIL FROM:<a@example.org>",
                        f"RCPT TO:<support@{DOMAIN}>".encode(), b"DATA"):
            sock.sendall(command + b"\r\n")
            reader.readline()
        sock.sendall(b"Subject: cut\r\n\r\nhalf a mess")
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        client.sendmail("a@example.org", [f"support@{DOMAIN}"], b"Subject: after\r\n\r\nx\r\n")
    assert spooled(tmp_path) == [b"Subject: after\r\n\r\nx\r\n"]
