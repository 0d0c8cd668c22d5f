"""Client text reaches the log escaped: no raw ESC, CR or LF from an SMTP command.

A terminal reading the journal would run an escape sequence; a CR or LF would let a client
write a line that looks like ours.
"""

from __future__ import annotations

import socket

import pytest

from maildaemon.smtp_in import printable
from tests.conftest import Installation, wait_until


def converse(port: int, commands: list[bytes]) -> list[bytes]:
    replies: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        for command in commands:
            sock.sendall(command + b"\r\n")
            while (line := reader.readline())[3:4] == b"-":
                pass
            replies.append(line[:3])
    return replies


@pytest.mark.slow
def test_control_characters_from_commands_are_escaped_in_the_log(
    daemon: Installation,
) -> None:
    replies = converse(daemon.port, [
        b"EHLO \x1b]0;owned\x07host",
        b"MAIL FROM:<a@example.org>",
        b"RCPT TO:<\x1bx@elsewhere.example>",
        b"RCPT TO:<x\ry@elsewhere.example>",
        b"\x1b[2JBOGUS x",
        b"QUIT",
    ])
    assert replies == [b"250", b"250", b"550", b"550", b"500", b"221"]

    def logged() -> bytes | None:
        text = daemon.log.read_bytes()
        return text if b"BOGUS" in text and text.count(b"refused RCPT") == 2 else None

    log = wait_until(logged, 10, "the refusals in the log")
    assert b"\x1b" not in log and b"\r" not in log and b"\x07" not in log
    # printable()'s escapes, their backslash escaped again inside the quoted msg (logfmt.py)
    assert b"refused RCPT \\\\x1bx@elsewhere.example" in log
    assert b"refused RCPT x\\\\ry@elsewhere.example" in log
    assert b"unrecognised: \\\\x1b[2JBOGUS" in log


def test_printable_escapes_controls_and_keeps_letters() -> None:
    assert printable("jörg@exämple.org") == "jörg@exämple.org"
    assert printable("a\x1b[0m\r\n\x00\x7f\x85\u2028b") == "a\\x1b[0m\\r\\n\\x00\\x7f\\x85\\u2028b"
    assert printable("\udcff") == "\\udcff"  # a byte that was not UTF-8
    assert printable("back\\slash") == "back\\\\slash"  # so no escape can be forged
