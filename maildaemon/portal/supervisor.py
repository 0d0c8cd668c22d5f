"""Serve's side of the portal: bind `[portal] listen`, start `maildaemon portal` on it,
restart it if it dies, and turn its wake-up bytes into wake-ups of the worker.

The socket is bound here so that a taken port or a bad address is exit 78 at start, naming
`portal.listen`, like `metrics.listen`; the child inherits it. The wake pipe is read by the
event loop (`add_reader`), which never blocks on it.
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
from collections.abc import Callable
from pathlib import Path

from maildaemon.config import Config
from maildaemon.portal_config import portal_address

log = logging.getLogger("maildaemon.daemon")

STOP_SECONDS = 10.0
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
BACKLOG = 128


class PortalBindError(Exception):
    """`portal.listen` cannot be bound (exit 78)."""


def bind_portal(config: Config) -> socket.socket | None:
    """The listening socket of `[portal] listen`, or None when the portal is off."""
    where = portal_address(config.portal)
    if where is None:
        return None
    host, port = where
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        raise PortalBindError(f"portal.listen: cannot listen on {config.portal.listen}:"
                              f" {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class PortalSupervisor:
    """Starts and restarts `maildaemon portal` on the bound socket."""

    def __init__(self, config_path: Path, sock: socket.socket, on_wake: Callable[[], None],
                 env: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.sock = sock
        self.on_wake = on_wake
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        self.started_at = 0.0

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if loop is not None:
            loop.add_reader(self.wake_r, self._read_wakeups)
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"} | self.env
        fd = self.sock.fileno()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maildaemon", "--config", str(self.config_path), "portal",
             "--fd", str(fd), "--wake-fd", str(self.wake_w)],
            pass_fds=(fd, self.wake_w), env=env)
        self.started_at = time.monotonic()
        log.info("portal process %d started", self.proc.pid)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart_soon(self) -> None:
        """After a reload: the child stops gracefully and watch() starts it on the new
        configuration at once."""
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            self.started_at = 0.0  # no backoff for an exit we asked for

    def _read_wakeups(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self.wake_r, 4096):
                pass
        self.on_wake()

    async def watch(self, stopping: asyncio.Event) -> None:
        delay = RESTART_FIRST_SECONDS
        while not stopping.is_set():
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None and not stopping.is_set():
                asked = self.started_at == 0.0
                if not asked:
                    log.error("portal process exited with %s; restarting in %.0fs", code, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RESTART_MAX_SECONDS)
                self.start()
            elif code is None and time.monotonic() - self.started_at > RESTART_MAX_SECONDS * 2:
                delay = RESTART_FIRST_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=0.5)

    async def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(self.wake_r)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            deadline = loop.time() + STOP_SECONDS
            while self.proc.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.05)
            if self.proc.poll() is None:
                log.warning("portal did not stop in time; killing it")
                self.proc.kill()
                self.proc.wait()
        for fd in (self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.sock.close()
