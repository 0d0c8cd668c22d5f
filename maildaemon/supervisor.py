"""The worker child of `serve`: started, woken through a pipe, restarted if it dies or hangs.

A worker can also stop making progress without dying (stopped, deadlocked, stuck in a
loop): then mail gets `250` and waits in the spool until someone restarts serve. So the
worker touches a heartbeat file (`worker.heartbeat` in the data directory) after every batch
and at least every few seconds when idle, and a watchdog here kills a worker whose heartbeat
has not changed for `spool.worker_stall_seconds`; the usual restart follows and the new
worker recovers what the old one had claimed. A file, not a database row: this process runs
the SMTP event loop, which must never wait on SQLite; a stat() of a local file does not
block. The watchdog compares the file's modification time with the last value it saw, on
its own monotonic clock, so a jump of the wall clock is no stall.

Also `sd_notify`, the one line of systemd's notify protocol the daemon speaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("maildaemon.daemon")

WORKER_STOP_SECONDS = 15.0
HEARTBEAT_NAME = "worker.heartbeat"
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0


def heartbeat_path(data_dir: Path) -> Path:
    return data_dir / HEARTBEAT_NAME


class Heartbeat:
    """The worker's side: touch the file (its mtime is the beat; nothing is written, so a
    full disk does not stop the beat). Created owner-only, like every data file."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        self.beat()

    def beat(self) -> None:
        with contextlib.suppress(OSError):
            os.utime(self.fd)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Watchdog:
    """Serve's side: how long the heartbeat has been still, once the worker has beaten.

    Armed by the first beat of each new worker: start-up (migrations of a large database)
    may take longer than `stall_seconds` and must not be taken for a hang.
    """

    def __init__(self, path: Path, stall_seconds: float) -> None:
        self.path = path
        self.stall_seconds = stall_seconds
        self.seen: int | None = None
        self.changed_at = 0.0
        self.armed = False

    def restarted(self, now: float) -> None:
        self.seen, self.changed_at, self.armed = self._mtime(), now, False

    def stalled_for(self, now: float) -> float | None:
        """Seconds without a beat if that is longer than allowed, else None."""
        mtime = self._mtime()
        if mtime != self.seen:
            self.seen, self.changed_at, self.armed = mtime, now, True
            return None
        still = now - self.changed_at
        return still if self.armed and still > self.stall_seconds else None

    def _mtime(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None


def sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) where we are; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)


class WorkerSupervisor:
    """Starts `maildaemon worker`, wakes it through a pipe, restarts it if it dies, and
    (given a watchdog) kills it first if it stops making progress."""

    def __init__(self, config_path: Path, watchdog: Watchdog | None = None) -> None:
        self.config_path = config_path
        self.watchdog = watchdog
        self.proc: subprocess.Popen[bytes] | None = None
        self.wake_w: int | None = None
        self.restarts = 0
        self.started_at = 0.0
        self.env: dict[str, str] = {}  # more for the worker's environment (in_force.PIN_ENV)
        self.reload_pending = False

    def reload(self) -> None:
        """Forward a SIGHUP to the worker, once it has beaten (it catches SIGHUP before
        its first beat; before that the signal's default would kill it)."""
        self.reload_pending = True
        self._forward_reload()

    def _forward_reload(self) -> None:
        if not self.reload_pending or self.proc is None or self.proc.poll() is not None:
            return
        if self.watchdog is not None and not self.watchdog.armed:
            self.watchdog.stalled_for(time.monotonic())  # notices a first beat
            if not self.watchdog.armed:
                return  # watch() tries again; a worker started now reads the new file
        self.proc.send_signal(signal.SIGHUP)
        self.reload_pending = False

    def start(self) -> None:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"} | self.env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maildaemon", "--config", str(self.config_path), "worker",
             "--wake-fd", str(read_end)],
            pass_fds=(read_end,), env=env,
        )
        os.close(read_end)
        if self.wake_w is not None:
            os.close(self.wake_w)
        self.wake_w = write_end
        self.started_at = time.monotonic()
        if self.watchdog is not None:
            self.watchdog.restarted(self.started_at)
        log.info("worker process %d started", self.proc.pid)

    def running(self) -> bool:
        """Whether the worker process is alive (for health.py; any thread)."""
        return self.proc is not None and self.proc.poll() is None

    def wake(self) -> None:
        if self.wake_w is None:
            return
        # A full pipe means the worker already has a wake-up waiting; a dead one is restarted
        # by watch() and finds the work in the spool.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self.wake_w, b"w")

    async def watch(self, stopping: asyncio.Event) -> None:
        delay = RESTART_FIRST_SECONDS
        while not stopping.is_set():
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None and not stopping.is_set():
                log.error("worker process exited with %s; restarting in %.0fs", code, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESTART_MAX_SECONDS)
                self.restarts += 1
                self.start()
            elif code is None:
                self._kill_if_stalled()  # then seen as exited, and restarted, next round
                self._forward_reload()
                if time.monotonic() - self.started_at > RESTART_MAX_SECONDS * 2:
                    delay = RESTART_FIRST_SECONDS  # it ran a while: a new failure is new
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=0.5)

    def _kill_if_stalled(self) -> None:
        assert self.proc is not None
        if self.watchdog is None:
            return
        still = self.watchdog.stalled_for(time.monotonic())
        if still is None:
            return
        log.error("worker process %d made no progress for %.0f s; killing it (what it had "
                  "claimed goes back to the spool)", self.proc.pid, still)
        self.proc.kill()  # SIGKILL ends a stopped or deadlocked process too
        self.watchdog.restarted(time.monotonic())  # once: the restart follows its exit

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WORKER_STOP_SECONDS
        while self.proc.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            log.warning("worker did not stop in time; killing it (its message is recovered)")
            self.proc.kill()
            self.proc.wait()
        if self.wake_w is not None:
            os.close(self.wake_w)
            self.wake_w = None
