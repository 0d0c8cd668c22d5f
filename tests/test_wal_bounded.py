"""Under sustained load the write-ahead logs stop growing: the checkpointer keeps up.

The SMTP edge never checkpoints the spool, and the worker's connections hand their
checkpoints to a thread (`sqlite.Checkpointer`). A log that is never rewound grows by every
page written, 10-20 KB per message: 6,000 messages would leave 60-120 MB logs. Rewound,
they stay at what a fraction of a second of writing needs (12-30 MB here). A log file
never shrinks by itself, so its size at the end is the largest it ever was.
"""

from __future__ import annotations

import smtplib
import threading
from pathlib import Path

import pytest

from tests.conftest import DOMAIN, Installation, mail

pytestmark = pytest.mark.slow  # every test here starts `maildaemon serve`

MESSAGES = 6000
CLIENTS = 4
BOUND = 48 * 1024 * 1024


def _send(port: int, start: int, failures: list[str]) -> None:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            for i in range(start, MESSAGES, CLIENTS):
                raw = mail(sender=f"wal{i}@example.org", subject=f"wal {i}",
                           message_id=f"<wal-{i}@example.org>").as_bytes()
                client.sendmail(f"wal{i}@example.org", [f"support@{DOMAIN}"], raw)
    except (OSError, smtplib.SMTPException) as exc:
        failures.append(repr(exc))


def wal_size(data: Path, name: str) -> int:
    wal = data / f"{name}-wal"
    return wal.stat().st_size if wal.exists() else 0


def test_the_logs_stop_growing_under_sustained_load(daemon: Installation) -> None:
    failures: list[str] = []
    clients = [threading.Thread(target=_send, args=(daemon.port, c, failures))
               for c in range(CLIENTS)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(300)
    assert failures == []
    daemon.wait_processed(MESSAGES, timeout=180)
    data = daemon.tmp / "data"
    sizes = {name: wal_size(data, name) for name in ("spool.sqlite3", "maildaemon.sqlite3")}
    print(f"WAL sizes after {MESSAGES} messages: {sizes}")
    assert all(size < BOUND for size in sizes.values()), sizes
