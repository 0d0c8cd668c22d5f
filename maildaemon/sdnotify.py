"""systemd's watchdog and status line, from the SMTP edge's event loop.

With `WatchdogSec=` in the unit, systemd sets $WATCHDOG_USEC (and $WATCHDOG_PID, which must
be ours: a child that inherited the variables must not ping for us, sd_watchdog_enabled(3)),
and restarts the service when no `WATCHDOG=1` arrives within that time. We ping at half
the interval, and only while `health.check()` says healthy: a wedged worker or a stuck
listener stops the pings, and systemd restarts us. The loop itself runs the pings, so a
blocked event loop stops them too.

Every round also sends `STATUS=` with the backlog, which `systemctl status` shows:
"accepting; spool 3 pending, 0 held; outbox 1 pending", or "UNHEALTHY: <reason>; ...".
Rounds are at half the watchdog interval, and at most STATUS_SECONDS apart. The counts come
from SQLite, so they are read on a thread; a read that fails leaves them out of the line
rather than stopping the pings (the database is the worker's concern, not the listener's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

from maildaemon.backlog import BacklogReader
from maildaemon.health import TICK_SECONDS, Health
from maildaemon.supervisor import sd_notify

log = logging.getLogger("maildaemon.daemon")

STATUS_SECONDS = 10.0


def watchdog_seconds(environ: dict[str, str] | None = None) -> float | None:
    """The interval systemd expects pings in, or None when it expects none (or not from
    this process)."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1_000_000


def status_line(healthy: bool, reason: str, backlog: str, refused: str = "") -> str:
    """`refused`: the last reload's refusal, kept in the line until a reload succeeds (else
    the next round would hide it from `systemctl status`)."""
    # Healthy with a "but" ("ok, but the worker cannot store mail ..."): said after it.
    head = f"UNHEALTHY: {reason}" if not healthy else \
        "accepting" + (reason[2:] if reason.startswith("ok, ") else "")
    parts = [head] + ([f"reload refused: {refused}"] if refused else []) \
        + ([backlog] if backlog else [])
    return "; ".join(parts)


async def notify_forever(health: Health, backlog: BacklogReader, stopping: asyncio.Event,
                         refused: Callable[[], str] = lambda: "") -> None:
    """Until `stopping`: ping while healthy, and say where we are. Nothing to do outside
    systemd (no $NOTIFY_SOCKET)."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    interval = watchdog_seconds()
    period = STATUS_SECONDS if interval is None else min(interval / 2, STATUS_SECONDS)
    was_healthy = True
    while not stopping.is_set():
        verdict = health.check()
        if verdict.healthy and interval is not None:
            sd_notify("WATCHDOG=1")
        if verdict.healthy != was_healthy:
            log.log(logging.INFO if verdict.healthy else logging.ERROR,
                    "health: %s%s", verdict.reason,
                    "" if verdict.healthy or interval is None
                    else "; watchdog pings withheld, systemd restarts the service")
            was_healthy = verdict.healthy
        words = ""
        try:
            words = (await asyncio.to_thread(backlog.read)).words()
        except Exception as exc:  # noqa: BLE001 - the line goes out without the counts
            log.warning("backlog unreadable for STATUS=: %s: %s", type(exc).__name__, exc)
        sd_notify("STATUS=" + status_line(verdict.healthy, verdict.reason, words, refused()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=period)


async def tick_forever(health: Health, stopping: asyncio.Event) -> None:
    """The event loop's own beat, for `health`'s "the loop is turning"."""
    while not stopping.is_set():
        health.tick()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=TICK_SECONDS)
