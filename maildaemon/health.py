"""Is the daemon doing its job? One answer, used by the systemd watchdog (sdnotify.py) and
by `/healthz` (metrics_http.py), so that the two can never disagree.

Healthy means both:
- **the listener accepts**: the SMTP server is serving (its socket is open; closed while
  stopping), and the event loop that accepts and answers is turning: a task of that loop
  beats every second (`tick`), and a loop that has not beaten for `LOOP_STALL_SECONDS` is
  stuck (a blocking call, a busy loop). We chose this over connecting to ourselves: a
  self-connect would take one of the connection slots that limits count, show up in the
  logs and metrics as a client, and on a busy server could time out for the wrong reason.
- **the worker makes progress or has nothing to do**: the worker touches its heartbeat
  file after every batch and at every idle wait (at most `workproc.POLL_SECONDS` apart), so
  a heartbeat that changed within `spool.worker_stall_seconds` means either. The same file
  and limit as serve's stall watchdog (supervisor.py), read through a `Watchdog` of our own
  (that one is reset when the supervisor restarts the worker, and must not tell us a
  restarted worker is well before it has beaten). A worker that is stopped, deadlocked,
  crash-looping or restarting is unhealthy until it beats again. Only before its first
  beat after serve starts is a silent worker "starting", and healthy, for up to
  STARTUP_SECONDS (an upgrade's migration); the supervisor likewise waits for that beat.

A worker stuck on a full disk or without its ticket database (PostgreSQL gone) still beats
(it backs off and retries): that is healthy here, since restarting cannot help, and the edge
goes on accepting mail into the spool; the reason says what the worker waits for (its fault
file, outage.py), and the spool backlog and its oldest age (metrics, STATUS=) show it.

No SQLite here: `check` reads a file's mtime and a few attributes, so it runs in the event
loop (the watchdog) or the HTTP thread alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from maildaemon.outage import FAULT_NAME, outage_reason
from maildaemon.supervisor import Watchdog

LOOP_STALL_SECONDS = 10.0
# Before the worker's first beat after serve starts: an upgrade's migration of a large
# database may take minutes (the supervisor waits for the first beat without a limit).
STARTUP_SECONDS = 600.0
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str  # "ok" or why not, for /healthz and STATUS=


def _never() -> bool:
    return False


class Health:
    def __init__(self, heartbeat: Path, stall_seconds: float,
                 worker_running: Callable[[], bool]) -> None:
        self.heartbeat = Watchdog(heartbeat, stall_seconds)
        self.fault = heartbeat.with_name(FAULT_NAME)  # the worker's outage, if any
        self.heartbeat.restarted(time.monotonic())  # armed by the first beat from now on
        self.stall_seconds = stall_seconds
        self.startup_seconds = max(stall_seconds, STARTUP_SECONDS)
        self.worker_running = worker_running
        # The edge sets this to its server's `is_serving` once it listens (hook for the
        # edge's other listeners: any callable that says "accepting").
        self.listening: Callable[[], bool] = _never
        self.loop_beat = time.monotonic()
        self.started = time.monotonic()
        self.lock = threading.Lock()  # the loop's watchdog and the HTTP threads both ask

    def tick(self) -> None:
        """Called by a task of the SMTP event loop every TICK_SECONDS."""
        self.loop_beat = time.monotonic()

    def check(self, now: float | None = None) -> Verdict:
        with self.lock:
            return self._check(time.monotonic() if now is None else now)

    def _check(self, now: float) -> Verdict:
        if not self.listening():
            return Verdict(False, "the SMTP listener is not accepting connections")
        if now - self.loop_beat > LOOP_STALL_SECONDS:
            return Verdict(False, f"the SMTP event loop has not run for "
                                  f"{now - self.loop_beat:.0f} s")
        still = self.heartbeat.stalled_for(now)
        if not self.worker_running():
            return Verdict(False, "the worker process is not running (restart pending)")
        if not self.heartbeat.armed:
            waited = now - self.started
            if waited > self.startup_seconds:
                return Verdict(False, f"the worker has not begun to work {waited:.0f} s "
                                      "after serve started")
            return Verdict(True, "ok (worker starting)")
        if still is not None:
            return Verdict(False, f"the worker has made no progress for {still:.0f} s "
                                  f"(limit {self.stall_seconds:.0f} s)")
        waiting = outage_reason(self.fault)
        if waiting is not None:
            return Verdict(True, f"ok, but the worker cannot store mail {waiting}; mail"
                                 " waits in the spool")
        return Verdict(True, "ok")
