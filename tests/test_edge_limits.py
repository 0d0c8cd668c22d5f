"""Limits against hostile clients (issue 14, point 9).

The counting and the header bound as tables, then a real `maildaemon serve` with small
limits (3 connections, 2 per IP, 2 s idle), spoken to over loopback from several source
addresses (127.0.0.1, 127.0.0.2 ... are different client IPs on Linux).
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildaemon.edge_limits import (
    TOO_MANY,
    TOO_MANY_FROM_IP,
    ConnectionLimits,
    header_section_too_large,
    peer_ip,
)
from tests.conftest import DOMAIN, Installation, assert_check_config_refuses, mail, wait_until

IDLE = 2.0
HEADER_LIMIT = 4096


# -- the rules, as tables ------------------------------------------------------------------

# (events, the answer to the last one): "+IP" connects, "-IP" closes, "+unix" a unix client.
ADMISSIONS = [
    (["+a", "+a"], None),
    (["+a", "+a", "+a"], TOO_MANY_FROM_IP),
    (["+a", "+a", "+b"], None),
    (["+a", "+a", "+b", "+c"], TOO_MANY),
    (["+a", "+a", "+b", "-a", "+c"], None),
    (["+a", "+a", "-a", "+a"], None),
    (["+a", "+a", "+a", "-a", "+a"], None),  # a refused one took no slot
    (["+unix", "+unix", "+unix"], None),  # no IP: the overall limit only
    (["+unix", "+unix", "+unix", "+a"], TOO_MANY),
]


@pytest.mark.parametrize(("events", "last"), ADMISSIONS)
def test_admission_table(events: list[str], last: bytes | None) -> None:
    limits = ConnectionLimits(max_total=3, per_ip=2)
    answer: bytes | None = None
    for event in events:
        ip = None if event[1:] == "unix" else event[1:]
        if event[0] == "+":
            answer = limits.admit(ip)
        else:
            limits.release(ip)
    assert answer == last


def test_new_limits_apply_to_new_connections() -> None:
    limits = ConnectionLimits(max_total=3, per_ip=2)
    assert limits.admit("a") is None and limits.admit("a") is None
    limits.reconfigure(max_total=3, per_ip=1)
    assert limits.admit("a") == TOO_MANY_FROM_IP
    limits.release("a")
    limits.release("a")
    assert limits.admit("a") is None
    assert limits.by_ip == {"a": 1} and limits.total == 1 and limits.refused == 1


@pytest.mark.parametrize(("peer", "ip"), [
    (("127.0.0.1", 2525), "127.0.0.1"),
    (("::1", 2525, 0, 0), "::/64"),
    (("2001:db8:1:2:aaaa::1", 25, 0, 0), "2001:db8:1:2::/64"),
    (("2001:db8:1:2:bbbb::7", 25, 0, 0), "2001:db8:1:2::/64"),  # the same /64
    (("2001:db8:1:3::1", 25, 0, 0), "2001:db8:1:3::/64"),
    (("::ffff:192.0.2.7", 25, 0, 0), "192.0.2.7"),  # a dual-stack listener's IPv4
    (("fe80::1%eth0", 25, 0, 2), "fe80::/64"),
    ("", None),  # a unix socket
    (None, None),
])
def test_peer_ip(peer: object, ip: str | None) -> None:
    assert peer_ip(peer) == ip


LIMIT = 100
HEADERS = [
    (b"Subject: x\r\n\r\nbody", False),
    (b"Subject: " + b"x" * 80 + b"\r\n\r\n" + b"b" * 1000, False),  # a long body is fine
    (b"X: " + b"x" * 200 + b"\r\n\r\nbody", True),
    (b"X: " + b"x" * 200, True),  # no body and no end: all header
    (b"X: " + b"x" * 93 + b"\r\n\r\n", False),  # exactly the limit, blank line included
    (b"X: " + b"x" * 94 + b"\r\n\r\n", True),
    (b"Subject: x\n\n" + b"b" * 1000, False),  # bare LF line ends
    (b"X: " + b"x" * 200 + b"\n\nbody", True),
    (b"\r\n" + b"b" * 1000, False),  # no header section at all
    (b"Subject: x\r\n\r\n" + b"b" * 200 + b"\n\n" + b"c" * 10, False),
    (b"X: " + b"x" * 200 + b"\r\n\r\nbody\n\n", True),
]


@pytest.mark.parametrize(("data", "too_large"), HEADERS)
def test_header_section_table(data: bytes, too_large: bool) -> None:
    assert header_section_too_large(data, LIMIT) is too_large


@pytest.mark.parametrize(("smtp", "key"), [
    ("max_connections = 0", "smtp.max_connections"),
    ("max_connections_per_ip = 0", "smtp.max_connections_per_ip"),
    ("max_connections_per_ip = -5", "smtp.max_connections_per_ip"),
    ("max_header_size = 100", "smtp.max_header_size"),
    ('max_connections = "many"', "smtp.max_connections"),
])
def test_check_config_refuses_bad_limits(tmp_path: Path, smtp: str, key: str) -> None:
    assert_check_config_refuses(tmp_path, f"[smtp]\n{smtp}\n", key)


# -- against the real daemon ---------------------------------------------------------------

def with_smtp(inst: Installation, keys: str) -> Installation:
    inst.config.write_text(inst.config.read_text().replace(
        "drain_seconds = 10.0", f"drain_seconds = 10.0\n{keys}"))
    return inst


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = with_smtp(Installation(tmp_path_factory.mktemp("limits")),
                     f"max_connections = 3\nmax_connections_per_ip = 2\ntimeout = {IDLE}\n"
                     f"max_header_size = {HEADER_LIMIT}")
    inst.start()
    yield inst
    inst.kill()


def connect(port: int, source: str) -> tuple[socket.socket, bytes]:
    """A connection from `source` and the first line the server says."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0))
    try:
        return sock, sock.makefile("rb").readline()
    except OSError:
        return sock, b""


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or reset) within the timeout."""
    sock.settimeout(10)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


@contextlib.contextmanager
def admitted(port: int, sources: list[str]) -> Iterator[list[socket.socket]]:
    """Connections from `sources`, each greeted 220. A slot may still be counted for a
    connection that was closed a moment ago (the daemon's start-up probe, the last test):
    then all are closed and tried again."""
    for _ in range(50):
        pairs = [connect(port, source) for source in sources]
        if all(line.startswith(b"220") for _, line in pairs):
            break
        for sock, _ in pairs:
            sock.close()
        time.sleep(0.1)
    else:
        raise AssertionError("the connections were never all admitted")
    try:
        yield [sock for sock, _ in pairs]
    finally:
        for sock, _ in pairs:
            sock.close()


def send_from(port: int, source: str, subject: str) -> bytes:
    """A whole SMTP transaction from `source`; the reply to the end of DATA."""
    sock, greeting = connect(port, source)
    with sock:
        assert greeting.startswith(b"220"), greeting
        lines = sock.makefile("rb")
        for command in (b"EHLO client.example", b"MAIL FROM:<alice@example.org>",
                        f"RCPT TO:<support@{DOMAIN}>".encode(), b"DATA"):
            sock.sendall(command + b"\r\n")
            reply = lines.readline()
            while reply[3:4] == b"-":
                reply = lines.readline()
            assert reply[:1] in (b"2", b"3"), (command, reply)
        sock.sendall(crlf(mail(subject=subject).as_bytes()) + b"\r\n.\r\n")
        return lines.readline()


@pytest.mark.slow
def test_one_ip_over_its_limit_is_refused_while_another_is_served(small: Installation) -> None:
    with admitted(small.port, ["127.0.0.1", "127.0.0.1"]):
        third, line = connect(small.port, "127.0.0.1")
        with third:
            assert line.startswith(b"421 4.7.0 Too many connections"), line
            assert closed_by_server(third)
        assert send_from(small.port, "127.0.0.2", "From another address").startswith(b"250")
    assert [t["subject"] for t in small.wait_processed(1)] == ["From another address"]


@pytest.mark.slow
def test_the_overall_limit_and_a_closed_connection_freeing_its_slot(
    small: Installation,
) -> None:
    with admitted(small.port, ["127.0.0.1", "127.0.0.1", "127.0.0.2"]) as crowd:
        fourth, line = connect(small.port, "127.0.0.3")
        with fourth:
            assert line.startswith(b"421 4.7.0 Too many connections"), line
            assert closed_by_server(fourth)
        crowd[0].close()

        def served() -> bool:
            sock, line = connect(small.port, "127.0.0.3")
            with sock:
                return line.startswith(b"220")

        wait_until(served, 10, "a freed slot")
    log = small.log.read_text()
    assert "refused" in log and "Traceback" not in log


@pytest.mark.slow
def test_refusals_are_logged_once_a_minute_not_once_each(small: Installation) -> None:
    before = small.log.read_text().count("over the limits")
    with admitted(small.port, ["127.0.0.4", "127.0.0.4"]):
        for _ in range(10):
            sock, line = connect(small.port, "127.0.0.4")
            sock.close()
            assert line.startswith(b"421 4.7.0"), line
    assert small.log.read_text().count("over the limits") - before <= 1


@pytest.mark.slow
def test_a_header_bomb_gets_552_and_is_not_spooled(small: Installation) -> None:
    bomb = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"x" * 70) for n in range(100))
    assert HEADER_LIMIT < len(bomb) < 200_000  # under max_message_size: the header bound
    with small.smtp() as client:
        code, text = send_raw(client, bomb + crlf(mail(subject="bomb").as_bytes()))
    assert (code, text) == (552, b"5.3.4 Header section exceeds the maximum size")
    small.wait_spool_empty()
    assert "bomb" not in [t["subject"] for t in small.tickets()]
    # A message whose headers fit is taken, in the same kind of session.
    fits = b"".join(bomb.splitlines(keepends=True)[:20])
    with small.smtp() as client:
        code, _ = send_raw(client, fits + crlf(mail(subject="fits").as_bytes()))
    assert code == 250
    wait_until(lambda: "fits" in [t["subject"] for t in small.tickets()], 15, "the ticket")


def crlf(message: bytes) -> bytes:
    return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def send_raw(client: smtplib.SMTP, message: bytes) -> tuple[int, bytes]:
    client.ehlo()
    client.mail("alice@example.org")
    client.rcpt(f"support@{DOMAIN}")
    return client.data(message)


@pytest.mark.slow
def test_an_idle_client_is_cut_off_while_others_are_served(small: Installation) -> None:
    idle, line = connect(small.port, "127.0.0.5")
    with idle:
        assert line.startswith(b"220")
        idle.sendall(b"EHLO idle.example\r\n")
        assert send_from(small.port, "127.0.0.6", "Beside an idle one").startswith(b"250")
        idle.settimeout(IDLE * 10)
        said = b""
        while not said.endswith(b"\r\n") or b"421" not in said:  # the EHLO reply first
            piece = idle.recv(4096)
            if not piece:
                break
            said += piece
    assert b"421 4.4.2 Idle for too long" in said, said
    wait_until(lambda: "Beside an idle one" in [t["subject"] for t in small.tickets()], 15,
               "the ticket")


@pytest.mark.slow
def test_a_command_dribbled_a_byte_at_a_time_is_cut_off(small: Installation) -> None:
    """The idle timer is per command, not per byte: a client that keeps sending bytes of
    a command that never ends is cut off after `timeout` all the same."""
    sock, line = connect(small.port, "127.0.0.7")
    command = b"MAIL FROM:<" + b"d" * 200 + b"@example.org>"
    sent = 0
    said = b""
    with sock:
        assert line.startswith(b"220")
        sock.settimeout(0.25)  # a byte every quarter second: 50 s for the whole command
        while sent < len(command):
            try:
                said = sock.recv(1024)
                break
            except TimeoutError:
                pass
            try:
                sock.sendall(command[sent:sent + 1])
            except OSError:
                break
            sent += 1
            if sent == 3:  # meanwhile, another client is served
                assert send_from(small.port, "127.0.0.8", "Beside a dribbler") \
                    .startswith(b"250")
        if not said:
            sock.settimeout(10)
            with contextlib.suppress(OSError):
                said = sock.recv(1024)
    assert said.startswith(b"421 4.4.2"), said
    assert 3 <= sent < len(command)  # cut off before the command was complete
    wait_until(lambda: "Beside a dribbler" in [t["subject"] for t in small.tickets()], 15,
               "the ticket")


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[Installation]:
    inst = with_smtp(Installation(tmp_path), "max_connections = 600")
    inst.start()
    yield inst
    inst.kill()


@pytest.mark.slow
def test_500_idle_connections_do_not_keep_a_delivery_from_its_250(
    crowded: Installation,
) -> None:
    """500 idle clients from 25 addresses (20 each, the default per-IP limit) all greeted,
    and a real delivery beside them still gets its 250 (and becomes a ticket)."""
    sources = [f"127.0.1.{n}" for n in range(1, 26)]
    crowd: list[socket.socket] = []
    try:
        for source in sources:
            for _ in range(20):
                sock = socket.create_connection(("127.0.0.1", crowded.port), timeout=30,
                                                source_address=(source, 0))
                crowd.append(sock)
        greetings = [sock.makefile("rb").readline()[:3] for sock in crowd]
        assert greetings == [b"220"] * 500
        assert send_from(crowded.port, "127.0.2.1", "Through the crowd").startswith(b"250")
    finally:
        for sock in crowd:
            sock.close()
    assert [t["subject"] for t in crowded.wait_processed(1)] == ["Through the crowd"]


@pytest.mark.slow
def test_sighup_applies_new_connection_limits(tmp_path: Path) -> None:
    """`systemctl reload` with a lower per-IP limit: connections open before it stay, the
    next one beyond the new limit gets 421 4.7.0."""
    from tests.test_reload_e2e import reload

    inst = with_smtp(Installation(tmp_path), "max_connections = 10\nmax_connections_per_ip = 3")
    inst.start()
    socks: list[socket.socket] = []
    try:
        sock, greeting = connect(inst.port, "127.0.0.1")
        socks.append(sock)
        assert greeting.startswith(b"220")
        inst.config.write_text(inst.config.read_text().replace(
            "max_connections_per_ip = 3", "max_connections_per_ip = 1"))
        reload(inst, worker_too=False)
        sock, greeting = connect(inst.port, "127.0.0.1")
        socks.append(sock)
        assert greeting.startswith(b"421 4.7.0"), greeting
        sock, greeting = connect(inst.port, "127.0.0.2")  # another client still has room
        socks.append(sock)
        assert greeting.startswith(b"220"), greeting
    finally:
        for sock in socks:
            sock.close()
        inst.kill()
