"""LMTP and the recipient limit against the real `maildaemon serve`: over TCP and over a
unix socket (smtplib.LMTP, as an MTA's LMTP client talks), a socket's mode and group, a
stale socket replaced, and the start refused (exit 78, naming the key) where the socket
cannot be made."""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import smtplib
import socket
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import DOMAIN, Installation, mail

pytestmark = pytest.mark.slow

SUPPORT, BILLING, STRANGER = f"support@{DOMAIN}", f"billing@{DOMAIN}", f"nobody-here@{DOMAIN}"


def set_smtp_keys(inst: Installation, keys: str) -> None:
    """Adds `keys` (TOML lines) to the [smtp] table of the installation's config."""
    text = inst.config.read_text()
    assert "[smtp]\n" in text
    inst.config.write_text(text.replace("[smtp]\n", f"[smtp]\n{keys.strip()}\n", 1))


@pytest.fixture
def rundir() -> Iterator[Path]:
    """A short directory for sockets (a unix socket path is at most 107 bytes, and
    pytest's tmp_path can be longer)."""
    path = Path(tempfile.mkdtemp(prefix="md-lmtp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def raw_message(subject: str, to: str) -> bytes:
    data = bytes(mail(subject=subject, to=to)).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert b"\r\n." not in data  # nothing to dot-stuff
    return data


def lmtp_transaction(client: smtplib.SMTP, rcpts: list[str], data: bytes
                     ) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """MAIL, the RCPTs, DATA: the RCPT replies, and one reply read after DATA per
    accepted recipient. Then a NOOP, whose reply must be its own: no extra DATA reply."""
    assert client.mail("alice@example.org")[0] == 250
    rcpt_replies = [client.rcpt(address) for address in rcpts]
    assert client.docmd("DATA")[0] == 354
    client.send(data + b".\r\n")
    data_replies = [client.getreply() for code, _ in rcpt_replies if code == 250]
    noop = client.docmd("NOOP")
    assert noop[0] == 250 and b"queued" not in noop[1], noop
    return rcpt_replies, data_replies


def test_lmtp_over_tcp_one_reply_per_accepted_recipient(installation: Installation) -> None:
    set_smtp_keys(installation, 'protocol = "lmtp"')
    installation.start()
    try:
        with smtplib.LMTP(timeout=10) as client:
            code, banner = client.connect("127.0.0.1", installation.port)
            assert code == 220 and banner.endswith(b" LMTP")
            assert client.docmd("EHLO", "mx.example.org")[0] == 500  # LMTP greets by LHLO
            assert client.docmd("HELO", "mx.example.org")[0] == 500
            code, features = client.ehlo("mx.example.org")  # smtplib.LMTP sends LHLO
            assert code == 250 and b"SIZE" in features
            rcpt, data = lmtp_transaction(client, [SUPPORT, STRANGER],
                                          raw_message("Over LMTP", SUPPORT))
        assert [code for code, _ in rcpt] == [250, 550]
        assert len(data) == 1
        assert data[0][0] == 250 and data[0][1].startswith(f"2.0.0 <{SUPPORT}> OK queued as "
                                                           .encode())
        [ticket] = installation.wait_processed(1)
        assert (ticket["subject"], ticket["queue"]) == ("Over LMTP", "support")
    finally:
        installation.kill()


def other_group() -> int | None:
    """A group the socket can be given that is not the process's own, if there is one."""
    candidates = ([g.gr_gid for g in grp.getgrall()] if os.geteuid() == 0
                  else os.getgroups())
    return next((gid for gid in candidates if gid != os.getegid()), None)


def test_lmtp_over_a_unix_socket(installation: Installation, rundir: Path) -> None:
    path = rundir / "lmtp.sock"
    stale = socket.socket(socket.AF_UNIX)  # what a killed daemon leaves: nobody listens
    stale.bind(str(path))
    stale.close()
    gid = other_group()
    group = "" if gid is None else grp.getgrgid(gid).gr_name
    set_smtp_keys(installation, f'protocol = "lmtp"\nsocket = "{path}"\n'
                                f'socket_mode = "0640"\nsocket_group = "{group}"')
    installation.unix_socket = path
    installation.start()
    try:
        info = os.stat(path)
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o640
        assert info.st_gid == (os.getegid() if gid is None else gid)
        with smtplib.LMTP(str(path), timeout=10) as client:
            assert client.ehlo("mx.example.org")[0] == 250
            rcpt, data = lmtp_transaction(client, [SUPPORT, STRANGER, BILLING],
                                          raw_message("Over a socket", f"{SUPPORT}, {BILLING}"))
        assert [code for code, _ in rcpt] == [250, 550, 250]
        assert [code for code, _ in data] == [250, 250]
        assert data[0][1].startswith(f"2.0.0 <{SUPPORT}> OK queued as ".encode())
        assert data[1][1].startswith(f"2.0.0 <{BILLING}> OK queued as ".encode())
        assert data[0][1].split()[-1] == data[1][1].split()[-1]  # one spool entry
        [ticket] = installation.wait_processed(1)
        assert (ticket["subject"], ticket["queue"]) == ("Over a socket", "billing")
        assert "LMTP" in installation.log.read_text()
        assert installation.stop() == 0
        assert not path.exists()  # removed at a clean stop
    finally:
        installation.kill()


@pytest.mark.parametrize("protocol", ["smtp", "lmtp"])
def test_the_101st_recipient_gets_452(installation: Installation, protocol: str) -> None:
    set_smtp_keys(installation, f'protocol = "{protocol}"')
    installation.start()
    rcpts = [f"{queue}@{DOMAIN}" for queue in ("support", "tech", "billing", "bugs")] * 25
    rcpts.append(f"escalation@{DOMAIN}")  # the 101st, an address of ours all the same
    data = raw_message("Many recipients", SUPPORT)
    try:
        if protocol == "lmtp":
            with smtplib.LMTP("127.0.0.1", installation.port, timeout=10) as client:
                client.ehlo("mx.example.org")
                rcpt, replies = lmtp_transaction(client, rcpts, data)
            assert [code for code, _ in replies] == [250] * 100
        else:
            with installation.smtp() as client:
                client.ehlo("mx.example.org")
                assert client.mail("alice@example.org")[0] == 250
                rcpt = [client.rcpt(address) for address in rcpts]
                assert client.data(data)[0] == 250
        assert [code for code, _ in rcpt[:100]] == [250] * 100
        assert rcpt[100] == (452, b"4.5.3 Too many recipients")
        [ticket] = installation.wait_processed(1)
        assert ticket["subject"] == "Many recipients"
        assert ticket["queue"] == "bugs"  # routed among the first 100 only
    finally:
        installation.kill()


def test_a_live_socket_is_not_taken_over(installation: Installation, rundir: Path) -> None:
    path = rundir / "lmtp.sock"
    set_smtp_keys(installation, f'protocol = "lmtp"\nsocket = "{path}"')
    installation.unix_socket = path
    installation.start()
    try:
        second = installation.cli("serve", check=False)
        assert second.returncode == 78
        assert "smtp.socket" in second.stderr and "another process" in second.stderr
        with smtplib.LMTP(str(path), timeout=10) as client:  # the first one still serves
            assert client.ehlo("mx.example.org")[0] == 250
    finally:
        installation.kill()


def not_a_socket(rundir: Path) -> str:
    (rundir / "file").write_text("keep me")
    return f'socket = "{rundir / "file"}"'


@pytest.mark.parametrize(("keys", "named"), [
    (lambda d: f'socket = "{d / "missing" / "lmtp.sock"}"', "smtp.socket: the directory"),
    (not_a_socket, "smtp.socket"),
    (lambda d: f'socket = "{d / "l.sock"}"\nsocket_group = "no-such-group-x"',
     "smtp.socket_group"),
])
def test_a_socket_that_cannot_be_made_refuses_to_start(
        installation: Installation, rundir: Path, keys: Callable[[Path], str],
        named: str) -> None:
    set_smtp_keys(installation, keys(rundir))
    result = installation.cli("serve", check=False)
    assert result.returncode == 78, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr
    if (rundir / "file").exists():
        assert (rundir / "file").read_text() == "keep me"
    with contextlib.suppress(FileNotFoundError):
        assert not stat.S_ISSOCK(os.lstat(rundir / "l.sock").st_mode)
