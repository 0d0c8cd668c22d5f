"""Running out of file descriptors at the SMTP listener: answer 421, log once in a while.

With every descriptor taken (a thousand idle connections, say), asyncio's accept loop
fails with EMFILE, logs a traceback through the loop's exception handler, and tries again:
up to 100 times per readiness event and once a second after that, a megabyte of identical
tracebacks a second, while the waiting clients get no answer at all. `AcceptGuard` is
installed as the loop's exception handler instead: it keeps one descriptor in reserve,
and when accept fails for want of descriptors it frees that one, accepts the waiting
connection with it, answers `421` and closes it, then takes its reserve back; the
listener itself is untouched, so accepting resumes as soon as connections close. The
failures are logged once per interval, with how many there were.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("maildaemon.daemon")

REFUSAL = b"421 4.3.2 Too many connections, try again later\r\n"
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
OUT_OF_RESOURCES = (*OUT_OF_DESCRIPTORS, errno.ENOBUFS, errno.ENOMEM)


class Throttle:
    """Lets an event through at most once per `interval`, counting what it held back."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.last = -interval
        self.held = 0

    def due(self) -> int | None:
        """None to stay quiet; else how many events this one stands for (itself included)."""
        now = self.clock()
        self.held += 1
        if now - self.last < self.interval:
            return None
        count, self.held, self.last = self.held, 0, now
        return count


class AcceptGuard:
    """The loop's exception handler: out-of-resource accept errors handled as above,
    everything else passed to asyncio's default handler."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 60.0) -> None:
        self.loop = loop
        self.throttle = Throttle(interval)
        self.refused = 0
        self.reserve: int | None = None
        self._take_reserve()

    def install(self) -> None:
        self.loop.set_exception_handler(self.handle)

    def close(self) -> None:
        if self.reserve is not None:
            os.close(self.reserve)
            self.reserve = None

    def handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        listener = context.get("socket")
        if not isinstance(error, OSError) or error.errno not in OUT_OF_RESOURCES \
                or listener is None:
            loop.default_exception_handler(context)
            return
        if error.errno in OUT_OF_DESCRIPTORS:
            self._refuse_one(listener.fileno())
        count = self.throttle.due()
        if count is not None:
            log.error("cannot accept connections: %s (%d times since the last report; %d "
                      "clients answered 421 so far)", os.strerror(error.errno or 0), count,
                      self.refused)

    def _refuse_one(self, listener_fd: int) -> None:
        """Accept the waiting client with the reserve descriptor, answer 421, close."""
        self.close()
        try:
            # A second view of the listening socket, detached (not closed) after use.
            listener = socket.socket(fileno=listener_fd)
            try:
                client, _ = listener.accept()
            finally:
                listener.detach()
        except OSError:
            client = None
        if client is not None:
            with client:
                client.setblocking(False)
                with contextlib.suppress(OSError):
                    client.send(REFUSAL)
            self.refused += 1
        self._take_reserve()

    def _take_reserve(self) -> None:
        try:
            self.reserve = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.reserve = None  # taken back at the next refusal
