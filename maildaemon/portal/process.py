"""`maildaemon portal`: the child process serve starts when `[portal] listen` is set.

It serves the socket serve bound (`--fd`), so a taken port is refused at serve's start and a
restart of this process loses no connection queued on it. After each spooled submission it
writes a byte to `--wake-fd`, which serve turns into a wake-up of the worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket

import uvicorn

from maildaemon.config import Config
from maildaemon.portal.app import create_app
from maildaemon.portal.context import PortalContext

log = logging.getLogger("maildaemon.portal")
STOP_SECONDS = 5


def run_portal(config: Config, fd: int, wake_fd: int | None) -> int:
    def wake() -> None:
        if wake_fd is not None:
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(wake_fd, b"w")

    if wake_fd is not None:
        os.set_blocking(wake_fd, False)
    ctx = PortalContext.from_config(config, wake=wake)
    sock = socket.socket(fileno=fd)  # the family of the bound socket, IPv4 or IPv6
    server = uvicorn.Server(uvicorn.Config(
        create_app(ctx), log_config=None, access_log=False, lifespan="off",
        server_header=False, date_header=True, proxy_headers=True,
        forwarded_allow_ips="127.0.0.1,::1",  # X-Forwarded-For from a local proxy only
        timeout_graceful_shutdown=STOP_SECONDS))
    log.info("portal serving on %s", sock.getsockname())
    server.run(sockets=[sock])
    return 0
