"""What serve shows of itself: health, the systemd watchdog and STATUS=, metrics over HTTP.

Put together here so that the composition root (daemon.py) needs a few lines: build the
Observer before the worker starts (it prepares the metrics directory the worker inherits),
`bind()` before listening (a taken metrics port is exit 78, before READY), `start()` once
the SMTP server listens, `stop()` at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from maildaemon import metrics
from maildaemon.backlog import BacklogReader
from maildaemon.config import Config
from maildaemon.health import Health
from maildaemon.metrics_config import listen_address
from maildaemon.metrics_http import Exporter
from maildaemon.sdnotify import notify_forever, tick_forever
from maildaemon.supervisor import WorkerSupervisor, heartbeat_path


class Observer:
    def __init__(self, config: Config, supervisor: WorkerSupervisor) -> None:
        self.address = listen_address(config.metrics)  # checked at load: no error here
        self.multiproc_dir = metrics.prepare(config.data_dir, self.address is not None)
        if self.multiproc_dir is not None:
            metrics.enable()
        self.health = Health(heartbeat_path(config.data_dir),
                             config.spool.worker_stall_seconds, supervisor.running)
        self.backlog = BacklogReader(config)
        self.exporter: Exporter | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def bind(self) -> None:
        """Listen for scrapes (raises MetricsError naming `metrics.listen`)."""
        if self.address is None or self.multiproc_dir is None:
            return
        host, port = self.address
        self.exporter = Exporter(host, port, self.health, self.backlog,
                                 str(self.multiproc_dir))
        self.exporter.start()

    def start(self, server: asyncio.AbstractServer, stopping: asyncio.Event,
              refused: Callable[[], str] = lambda: "") -> None:
        """The hook for the listener: `health` asks `server.is_serving()`. (With several
        listeners, e.g. a unix socket beside TCP, set `health.listening` to a callable
        that asks each.)"""
        self.health.listening = server.is_serving
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(tick_forever(self.health, stopping)),
                      loop.create_task(notify_forever(self.health, self.backlog, stopping,
                                                      refused))]

    async def stop(self) -> None:
        for task in self.tasks:
            with contextlib.suppress(Exception):
                await task
        if self.exporter is not None:
            await asyncio.to_thread(self.exporter.close)
        self.backlog.close()
