"""Under sustained load the write-ahead logs stay small: the checkpointer keeps up.

The SMTP edge never checkpoints the spool, and the worker's connections hand their
checkpoints to a thread (`sqlite.Checkpointer`); if that thread fell behind or stopped,
each WAL would grow by every page written, some 10-20 KB per message.
"""

from __future__ import annotations

import smtplib
import threading
from pathlib import Path

from tests.conftest import DOMAIN, Installation, mail

MESSAGES = 3000
CLIENTS = 4
BOUND = 12 * 1024 * 1024


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


def test_the_logs_stay_small_under_sustained_load(daemon: Installation) -> None:
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
