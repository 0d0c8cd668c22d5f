"""SIGHUP in `serve` (the SMTP edge): check the file, apply what may change, tell the worker.

The signal handler only schedules a task. The file is read, validated and its templates
rendered on a thread (reload.prepare): the event loop goes on answering SMTP meanwhile, so
no connection is dropped or slowed. Then, back on the loop, in this order:

1. refused (a TOML error, a bad value, a template that does not render, a `checks`
   callback that raised): the error is logged, `STATUS=reload refused: <reason>` goes to
   systemd, and nothing changes in either process (the worker is not signalled);
2. accepted: the accepted text is written where the worker reads it (in_force.py),
   each `on_reload` callback gets the new Config (the edge's own settings first: RCPT
   verdicts, sizes and timeouts of new connections, the watchdog), the changed keys and
   the restart-only ones are logged, and the worker is signalled (supervisor.py forwards
   SIGHUP once the worker is up); `STATUS=reloaded`.

A SIGHUP that arrives while a reload runs is not lost: one more reload follows. Open
connections keep the settings they were opened with (their timeouts and sizes); their next
RCPT is judged by the new routing. The systemd notify lines follow the reload protocol
(`RELOADING=1` with `MONOTONIC_USEC`, then `READY=1`).

Extension points for other parts of the edge: `checks` (run on the reload thread with the
new Config; raise ValueError or OSError naming the setting to refuse the reload, e.g. a
TLS certificate that does not load) and `on_reload` (run on the loop to apply, e.g. the
new TLS context or connection limits). Do the work that can fail in a check and keep
`on_reload` to assignments: an apply that raises is logged and reported as refused, but
what the callbacks before it applied stays. A SIGHUP while serve is stopping is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from maildaemon.config import Config
from maildaemon.in_force import write_in_force, write_templates_in_force
from maildaemon.reload import Reload, describe_changes, prepare
from maildaemon.supervisor import sd_notify

log = logging.getLogger("maildaemon.reload")

Check = Callable[[Config], None]
Apply = Callable[[Config], None]


class EdgeReloader:
    def __init__(self, config_path: Path, current: Callable[[], Config],
                 templates: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.templates = templates or {}  # fingerprints of the overrides in force
        self.current = current
        self.checks: list[Check] = []
        self.on_reload: list[Apply] = []
        # Last, once every on_reload callback ran: serve tells its worker.
        self.then: Callable[[], None] = lambda: None
        self.closed = False  # stopping: a SIGHUP now is ignored (its default would kill)
        self.task: asyncio.Task[None] | None = None
        self.again = False
        self.last_error = ""  # the last refusal, "" once a reload succeeded (for STATUS=)
        self.reloads = 0  # accepted reloads, for tests and metrics

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGHUP, self.request)

    def request(self) -> None:
        if self.closed:
            log.info("reload: ignored, stopping")
            return
        if self.task is not None and not self.task.done():
            self.again = True
            return
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(100):  # bounded: a signal storm cannot keep us here forever
            self.again = False
            sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
            log.info("reload: reading %s", self.config_path)
            old = self.current()
            try:
                result = await loop.run_in_executor(None, self._prepare, old)
                self._apply(old, result)
            except Exception as exc:  # never the daemon's end: the old settings serve on
                log.exception("reload failed; the configuration in force stays")
                self._refused(f"{type(exc).__name__}: {exc}")
            if not self.again:
                return

    def _prepare(self, old: Config) -> Reload:
        """On a thread: the file checked as check-config does, then the extra checks; the
        accepted text written for the worker."""
        result = prepare(self.config_path, old, self.templates)
        if result.config is None:
            return result
        for check in self.checks:
            try:
                check(result.config)
            except (ValueError, OSError) as exc:
                return Reload(error=str(exc))
        write_templates_in_force(result.config.data_dir, result.sources)
        write_in_force(result.config.data_dir, result.text)
        return result

    def _apply(self, old: Config, result: Reload) -> None:
        if result.config is None:
            self._refused(result.error)
            return
        for apply in self.on_reload:
            apply(result.config)
        self.then()
        self.reloads += 1
        self.templates = result.templates
        self.last_error = ""
        log.info("reload: applied; changed: %s", describe_changes(old, result))
        if result.need_restart:
            log.warning("reload: need a restart to change: %s (changed in %s; the values in"
                        " force stay until then)", ", ".join(result.need_restart),
                        self.config_path)
        sd_notify(f"READY=1\nSTATUS={result.status()}")

    def _refused(self, error: str) -> None:
        self.last_error = error
        log.error("reload refused, the configuration in force stays: %s", error)
        sd_notify(f"READY=1\nSTATUS={Reload(error=error).status()}")
