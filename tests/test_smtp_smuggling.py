"""SMTP smuggling: only <CR><LF>.<CR><LF> ends DATA, exactly as in aiosmtpd 1.4.5+.

A DATA reader that also ends at a bare "\\n.\\r\\n" lets one session run the bytes after
it as new commands: a second message with any envelope, behind a relay that reads the same
bytes as one message. Every near-terminator must stay data; our reader is compared with
stock aiosmtpd's over real sockets, and with a line-by-line model of it under tiny reads.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildaemon.smtp_in import EdgeSMTP
from maildaemon.spool import Spool
from tests.conftest import DOMAIN, Installation, ServerThread, mail
from tests.test_smtp_faults import Listener

SMUGGLED = (
    b"MAIL FROM:<ceo@" + DOMAIN.encode() + b">\r\n"
    b"RCPT TO:<support@" + DOMAIN.encode() + b">\r\n"
    b"DATA\r\n"
    b"From: ceo@" + DOMAIN.encode() + b"\r\nSubject: smuggled\r\n\r\nwire the money\r\n"
)
HEAD = b"From: alice@example.org\r\nSubject: carrier\r\n\r\nhello"

# Every way a line "." can be written with bare CR or LF, none of them <CRLF>.<CRLF>.
NEAR_TERMINATORS = [
    b"\n.\r\n", b"\r.\n", b"\n.\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r", b"\n.\r",
    b"\r.\r", b"\r\n.\r\r\n", b"\r\n.\n\r\n", b"\r\n. \r\n", b"\r\n.\x00\r\n", b"\n\r.\r\n",
]


def model_reading(stream: bytes) -> tuple[bytes, bytes] | None:
    """aiosmtpd's DATA, line by line: lines end in CRLF only, the first line "." ends the
    message, and a line starting with "." loses that dot. Returns (message, the rest), or
    None while the stream has no end yet."""
    lines: list[bytes] = []
    start = 0
    while (end := stream.find(b"\r\n", start)) >= 0:
        line = stream[start:end + 2]
        start = end + 2
        if line == b".\r\n":
            unstuffed = (part[1:] if part.startswith(b".") else part for part in lines)
            return b"".join(unstuffed), stream[start:]
        lines.append(line)
    return None


def spooled(tmp_path: Path) -> list[bytes]:
    return [entry.raw for entry in Spool(tmp_path).claim_batch(100)]


def session(port: int, data: bytes) -> list[bytes]:
    """EHLO, MAIL, RCPT, DATA by hand, then `data` as is, then QUIT; every reply's code."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for command in (b"EHLO t", b"MAIL FROM:<a@example.org>",
                        f"RCPT TO:<support@{DOMAIN}>".encode(), b"DATA"):
            sock.sendall(command + b"\r\n")
        sock.sendall(data + b"QUIT\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return [line[:3] for line in received.split(b"\r\n")
            if line[:3].isdigit() and line[3:4] != b"-"]


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    lst = Listener(Spool(tmp_path))
    yield lst
    lst.close()


@pytest.mark.parametrize("near", NEAR_TERMINATORS, ids=repr)
def test_near_terminator_is_data_and_the_session_makes_one_message(
    listener: Listener, tmp_path: Path, near: bytes
) -> None:
    body = HEAD + near + SMUGGLED
    codes = session(listener.port, body + b"\r\n.\r\n")
    assert codes == [b"220", b"250", b"250", b"250", b"354", b"250", b"221"]
    [message] = spooled(tmp_path)
    assert message == model_reading(body + b"\r\n.\r\n")[0]  # type: ignore[index]
    assert b"wire the money" in message


@pytest.mark.parametrize("start", [b".\n", b".\r", b"\n.\r\n", b".\r\r\n", b". \r\n"],
                         ids=repr)
def test_near_terminator_at_the_start_of_data_is_data(
    listener: Listener, tmp_path: Path, start: bytes
) -> None:
    body = start + SMUGGLED
    codes = session(listener.port, body + b"\r\n.\r\n")
    assert codes == [b"220", b"250", b"250", b"250", b"354", b"250", b"221"]
    assert spooled(tmp_path) == [model_reading(body + b"\r\n.\r\n")[0]]  # type: ignore[index]


def test_a_real_terminator_at_the_start_of_data_ends_an_empty_message(
    listener: Listener, tmp_path: Path
) -> None:
    codes = session(listener.port, b".\r\nRSET\r\n")
    assert codes == [b"220", b"250", b"250", b"250", b"354", b"250", b"250", b"221"]
    assert spooled(tmp_path) == [b""]


def test_dot_unstuffing_is_by_crlf_lines_only(listener: Listener, tmp_path: Path) -> None:
    body = b"..a\r\n.b\r\nc\n..d\r\ne\r..f\r\n"
    session(listener.port, body + b".\r\n")
    assert spooled(tmp_path) == [b".a\r\nb\r\nc\n..d\r\ne\r..f\r\n"]


@pytest.mark.slow
def test_smuggling_through_serve_makes_one_ticket_and_one_acknowledgement(
    daemon: Installation,
) -> None:
    carrier = bytes(mail(subject="carrier").as_bytes().replace(b"\n", b"\r\n"))
    codes = session(daemon.port, carrier + b"\n.\r\n" + SMUGGLED + b"\r\n.\r\n")
    assert codes == [b"220", b"250", b"250", b"250", b"354", b"250", b"221"]
    [ticket] = daemon.wait_processed(1)
    assert ticket["subject"] == "carrier"
    assert [t["subject"] for t in daemon.tickets()] == ["carrier"]


# -- against stock aiosmtpd ----------------------------------------------------------------

class Capture:
    """A handler for both servers: keeps what DATA delivered, answers 250."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(bytes(envelope.original_content or b""))
        return "250 OK"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Capture, ServerThread, Capture, ServerThread]]:
    ours, stock = Capture(), Capture()
    our_server = ServerThread(lambda loop: EdgeSMTP(
        ours, set(), hostname="t", ident="ESMTP", loop=loop))  # type: ignore[arg-type]
    stock_server = ServerThread(lambda loop: SMTP(
        stock, hostname="t", ident="ESMTP", loop=loop, decode_data=False))
    yield ours, our_server, stock, stock_server
    our_server.close()
    stock_server.close()


PIECES = st.sampled_from([b"\r", b"\n", b".", b"a", b"\r\n", b".\r\n", b"\r\n.", b".."])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(PIECES, max_size=40))
def test_our_data_phase_reads_what_stock_aiosmtpd_reads(
    servers: tuple[Capture, ServerThread, Capture, ServerThread], pieces: list[bytes]
) -> None:
    ours, our_server, stock, stock_server = servers
    ours.messages.clear()
    stock.messages.clear()
    stream = b"".join(pieces) + b"\r\n.\r\n"  # always ends, so both sessions finish
    our_codes = session(our_server.port, stream)
    stock_codes = session(stock_server.port, stream)
    assert ours.messages == stock.messages
    assert our_codes == stock_codes
    expected = model_reading(stream)
    assert expected is not None and stock.messages[0] == expected[0]


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=40), st.lists(st.integers(1, 7), min_size=1, max_size=20),
       st.integers(5, 9))
def test_our_reader_matches_the_model_across_any_read_boundaries(
    pieces: list[bytes], cuts: list[int], buffer_limit: int
) -> None:
    """Tiny reader buffers and a stream fed in small pieces put a terminator (or the start
    of one) across every possible boundary between reads."""
    stream = b"".join(pieces) + b"\r\n.\r\nNOOP\r\n"
    expected = model_reading(stream)
    assert expected is not None

    async def read() -> tuple[bytes | None, bytes]:
        loop = asyncio.get_running_loop()
        smtp = EdgeSMTP(Capture(), set(), hostname="t", loop=loop)  # type: ignore[arg-type]
        reader = asyncio.StreamReader(limit=buffer_limit, loop=loop)
        smtp._reader = reader

        async def feed() -> None:
            offset = 0
            for size in cuts * (len(stream) // len(cuts) + 1):
                if offset >= len(stream):
                    break
                reader.feed_data(stream[offset:offset + size])
                offset += size
                await asyncio.sleep(0)
            reader.feed_eof()

        feeding = loop.create_task(feed())
        content = await smtp._read_data()
        await feeding
        return content, await reader.read()

    assert asyncio.run(read()) == expected
