"""A worker that cannot store mail for a while (its ticket database gone, a full disk) says
so once a minute, not at every try, and tells `/healthz` why.

During an outage the worker retries with backoff (workproc.py) and the SMTP edge goes on
accepting mail into the spool; the log would otherwise get a line per try from the worker,
the sender and the sweep, and the operator would still not know from `/healthz` why nothing
becomes a ticket. So each of them asks a `OncePer` whether to log, and the worker's loop
keeps `Outage`: a small file beside the heartbeat (`worker.fault`) naming since when and
what fails, removed when work succeeds again. health.py reads it (a file, no database):
the node is still healthy, since restarting it cannot bring the database back, and the
reason says what it waits for.
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path

FAULT_NAME = "worker.fault"
LOG_EVERY_SECONDS = 60.0


def fault_path(data_dir: Path) -> Path:
    return data_dir / FAULT_NAME


class OncePer:
    """Whether a repeated condition is worth a log line now: the first time, then at most
    once per `seconds` until `reset()`."""

    def __init__(self, seconds: float = LOG_EVERY_SECONDS) -> None:
        self.seconds = seconds
        self.last: float | None = None

    def due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if self.last is not None and now - self.last < self.seconds:
            return False
        self.last = now
        return True

    def reset(self) -> None:
        self.last = None


class Outage:
    """The worker's side: failures counted, logged once a minute, the fault file kept."""

    def __init__(self, data_dir: Path, seconds: float = LOG_EVERY_SECONDS) -> None:
        self.path = fault_path(data_dir)
        self.log_now = OncePer(seconds)
        self.since: datetime | None = None
        self.tries = 0
        self.over()  # a file a killed worker left says nothing about this one

    def failed(self, why: str) -> bool:
        """One more failed try; True when it should be logged (the file is renewed then)."""
        self.tries += 1
        if self.since is None:
            self.since = datetime.now(UTC)
        if not self.log_now.due():
            return False
        stamp = self.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        text = f"since {stamp}, {self.tries} tries: {why}"
        with contextlib.suppress(OSError):  # a full disk may refuse even this
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(text + "\n", encoding="utf-8")
            os.replace(temporary, self.path)
        return True

    def over(self) -> int:
        """Work succeeded: the outage (if any) is over; how many tries it took."""
        tries, self.tries, self.since = self.tries, 0, None
        self.log_now.reset()
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
        return tries


def outage_reason(path: Path) -> str | None:
    """What the worker's fault file says, or None when it has none."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None
