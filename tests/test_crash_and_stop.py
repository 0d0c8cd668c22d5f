"""Crash safety and graceful stop of the real daemon process.

A `250` means the message is durable: after SIGKILL at any moment and a restart, every message
that got 250 is in exactly one ticket with exactly one acknowledgement.
"""

from __future__ import annotations

import signal
import smtplib
import socket
import threading
import time
from collections import Counter
from email import message_from_bytes
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.conftest import DOMAIN, Installation, mail, wait_until

pytestmark = pytest.mark.slow  # every test here starts `maildaemon serve`


def _blast(inst: Installation, messages: list[bytes], accepted: list[int],
           stop: threading.Event, worker: int, workers: int) -> None:
    for index in range(worker, len(messages), workers):
        if stop.is_set():
            return
        try:
            with smtplib.SMTP("127.0.0.1", inst.port, timeout=5) as client:
                client.sendmail(f"crash{index}@example.org", [f"support@{DOMAIN}"],
                                messages[index])
            accepted.append(index)
        except (OSError, smtplib.SMTPException):
            continue


def test_sigkill_under_load_loses_and_doubles_nothing(installation: Installation) -> None:
    total, workers = 240, 8
    messages = [
        mail(sender=f"crash{i}@example.org", subject=f"crash test {i}",
             message_id=f"<crash-{i}@example.org>").as_bytes()
        for i in range(total)
    ]
    accepted: list[int] = []
    for round_ in range(2):  # kill twice: once early, once with more work in flight
        installation.start()
        stop = threading.Event()
        threads = [
            threading.Thread(target=_blast, args=(installation, messages, accepted, stop, w,
                                                  workers))
            for w in range(workers)
        ]
        for thread in threads:
            thread.start()
        goal = 40 + 60 * round_
        wait_until(lambda goal=goal: len(accepted) >= goal, 60, f"{goal} accepted messages")
        installation.kill()  # SIGKILL, mid-transaction for some clients
        stop.set()
        for thread in threads:
            thread.join(30)
    print(f"accepted before the kills: {len(accepted)} of {total}")
    assert 0 < len(accepted) < total

    # Like a real MTA, the clients retry what was not acknowledged with 250.
    installation.start()
    missing = sorted(set(range(total)) - set(accepted))
    with installation.smtp() as client:
        for index in missing:
            client.sendmail(f"crash{index}@example.org", [f"support@{DOMAIN}"], messages[index])
    installation.wait_processed(total, timeout=120)

    tickets = installation.tickets()
    by_subject = Counter(t["subject"] for t in tickets)
    assert len(tickets) == total
    assert all(count == 1 for count in by_subject.values())

    installation.cli("flush")
    acks = Counter(
        str(message_from_bytes(raw)["In-Reply-To"]) for raw in installation.outbound()
    )
    for index in range(total):
        assert acks[f"<crash-{index}@example.org>"] == 1, index


def _start_data(port: int) -> tuple[socket.socket, BinaryIO]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    reader = sock.makefile("rb")

    def command(line: bytes, expect: bytes) -> None:
        sock.sendall(line + b"\r\n")
        while True:
            reply = reader.readline()
            if reply[3:4] != b"-":
                break
        assert reply.startswith(expect), reply

    assert reader.readline().startswith(b"220")
    command(b"EHLO client.example.org", b"250")
    command(b"MAIL FROM:<slow@example.org>", b"250")
    command(f"RCPT TO:<support@{DOMAIN}>".encode(), b"250")
    command(b"DATA", b"354")
    sock.sendall(b"From: slow@example.org\r\nTo: support@healthsync.com\r\n"
                 b"Subject: slow sender\r\nMessage-ID: <slow-1@example.org>\r\n\r\n")
    return sock, reader


def test_sigterm_lets_a_client_mid_data_finish_then_exits_zero(
    installation: Installation,
) -> None:
    installation.start()
    sock, reader = _start_data(installation.port)
    assert installation.proc is not None
    installation.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # The listener is closed: a new client cannot connect.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", installation.port), timeout=2)
    sock.sendall(b"The body arrives after SIGTERM.\r\n.\r\n")
    reply = reader.readline()
    assert reply.startswith(b"250"), reply
    sock.close()
    assert installation.proc.wait(30) == 0
    installation.proc = None

    # Processed before exit or recovered at the next start: either way, one ticket.
    installation.start()
    [ticket] = installation.wait_processed(1)
    assert ticket["subject"] == "slow sender"


def test_sigterm_with_idle_connection_exits_promptly(installation: Installation) -> None:
    installation.start()
    with socket.create_connection(("127.0.0.1", installation.port), timeout=5) as idle:
        assert idle.recv(100).startswith(b"220")
        started = time.monotonic()
        assert installation.stop() == 0
        assert time.monotonic() - started < 10
        assert idle.recv(100).startswith(b"421")


def _worker_pids(serve_pid: int) -> list[int]:
    children = Path(f"/proc/{serve_pid}/task/{serve_pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def test_a_dead_worker_is_restarted_and_nothing_waits_for_it(
    installation: Installation,
) -> None:
    import os

    installation.start()
    assert installation.proc is not None
    [worker] = wait_until(lambda: _worker_pids(installation.proc.pid), what="the worker")
    os.kill(worker, signal.SIGKILL)
    installation.send(mail(sender="during-outage@example.org", subject="while it was down"))
    [ticket] = installation.wait_processed(1, timeout=30)
    assert ticket["subject"] == "while it was down"
    [new_worker] = _worker_pids(installation.proc.pid)
    assert new_worker != worker
    assert "restarting" in installation.log.read_text()


def test_worker_stops_when_the_edge_dies(installation: Installation) -> None:
    import os

    installation.start()
    assert installation.proc is not None
    [worker] = wait_until(lambda: _worker_pids(installation.proc.pid), what="the worker")
    installation.proc.kill()  # only the edge: the worker must not linger as an orphan
    installation.proc.wait(10)
    installation.proc = None

    def gone() -> bool:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return True
        # A zombie is gone too: it was reaped by nobody yet, but it runs no code.
        return Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z"

    wait_until(gone, 15, "the worker to exit")
