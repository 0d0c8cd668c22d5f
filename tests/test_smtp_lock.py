"""Another process holding the spool's lock never freezes the SMTP listener.

The test process takes the spool's write lock of a real `maildaemon serve` and holds it,
as a long `spool retry`, a backup or a stuck worker would. A client in DATA gets `451`
within a few seconds; other sessions are answered meanwhile; mail flows once it is free.
"""

from __future__ import annotations

import smtplib
import sqlite3
import threading
import time

import pytest

from tests.conftest import DOMAIN, Installation, mail

pytestmark = pytest.mark.slow  # every test here starts `maildaemon serve`

ANSWER_BOUND = 3.0  # "within a second", with slack for two noisy cores
TEMPFAIL_BOUND = 12.0  # "a few seconds" (the edge waits 4 s), with slack


def probe_session(port: int) -> float:
    """Greeting, EHLO, MAIL and RCPT on a new connection; how long they took."""
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port, timeout=ANSWER_BOUND + 2) as client:
        assert client.ehlo()[0] == 250
        assert client.mail("probe@example.org")[0] == 250
        assert client.rcpt(f"support@{DOMAIN}")[0] == 250
        client.rset()
    return time.monotonic() - started


def test_a_locked_spool_gives_451_in_seconds_and_other_sessions_go_on(
    daemon: Installation,
) -> None:
    lock = sqlite3.connect(daemon.tmp / "data" / "spool.sqlite3", isolation_level=None,
                           timeout=30)
    lock.execute("BEGIN IMMEDIATE")
    outcome: dict[str, object] = {}
    in_data = threading.Event()

    def blocked_sender() -> None:
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=60) as client:
            client.ehlo()
            client.mail("alice@example.org")
            client.rcpt(f"support@{DOMAIN}")
            in_data.set()
            outcome["reply"] = client.data(mail(subject="while locked").as_bytes())
        outcome["seconds"] = time.monotonic() - started

    sender = threading.Thread(target=blocked_sender)
    try:
        sender.start()
        assert in_data.wait(10)
        time.sleep(0.5)  # let its DATA reach the commit
        assert probe_session(daemon.port) < ANSWER_BOUND
        sender.join(TEMPFAIL_BOUND + 30)
        assert not sender.is_alive()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        sender.join(60)
    code, text = outcome["reply"]  # type: ignore[misc]
    assert (code, text[:5]) == (451, b"4.3.0")
    assert outcome["seconds"] < TEMPFAIL_BOUND  # type: ignore[operator]

    daemon.send(mail(subject="after the lock"))
    assert [t["subject"] for t in daemon.wait_processed(1)] == ["after the lock"]


def test_a_lock_shorter_than_the_wait_delays_the_250_but_loses_nothing(
    daemon: Installation,
) -> None:
    lock = sqlite3.connect(daemon.tmp / "data" / "spool.sqlite3", isolation_level=None,
                           timeout=30, check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.0, lambda: lock.execute("ROLLBACK"))
    release.start()
    try:
        daemon.send(mail(subject="short lock"))
    finally:
        release.join()
        lock.close()
    assert [t["subject"] for t in daemon.wait_processed(1)] == ["short lock"]
