"""The worker child of `serve`: started, woken through a pipe, restarted if it dies.

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
from pathlib import Path

log = logging.getLogger("maildaemon.daemon")

WORKER_STOP_SECONDS = 15.0


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
    """Starts `maildaemon worker`, wakes it through a pipe, restarts it if it dies."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.wake_w: int | None = None
        self.restarts = 0

    def start(self) -> None:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maildaemon", "--config", str(self.config_path), "worker",
             "--wake-fd", str(read_end)],
            pass_fds=(read_end,), env=env,
        )
        os.close(read_end)
        if self.wake_w is not None:
            os.close(self.wake_w)
        self.wake_w = write_end
        log.info("worker process %d started", self.proc.pid)

    def wake(self) -> None:
        if self.wake_w is None:
            return
        # A full pipe means the worker already has a wake-up waiting; a dead one is restarted
        # by watch() and finds the work in the spool.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self.wake_w, b"w")

    async def watch(self, stopping: asyncio.Event) -> None:
        delay = 1.0
        while not stopping.is_set():
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None and not stopping.is_set():
                log.error("worker process exited with %s; restarting in %.0fs", code, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                self.restarts += 1
                self.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=0.5)

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
