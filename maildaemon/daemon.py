"""The composition root of `serve`: the SMTP edge here, the worker in a supervised child.

Lifecycle (after uvicorn): start-up -> serve -> shutdown. Signal handlers only set a flag.
On SIGTERM/SIGINT the listener closes first; new transactions get 421; transactions already
past MAIL FROM may finish (a client mid-DATA still gets its 250) for `smtp.drain_seconds`;
then idle connections are closed and the worker is asked to stop: it finishes or abandons its
current message (an abandoned one stays claimed in the spool and is recovered at the next
start) and both processes exit 0. A second signal exits at once; the spool makes that safe.

The worker child (workproc.py) is restarted with backoff if it dies; acceptance goes on
meanwhile, since the spool holds what arrives.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from pathlib import Path

from maildaemon.config import Config
from maildaemon.descriptors import AcceptGuard
from maildaemon.edge_limits import ConnectionLimits
from maildaemon.edge_tls import TlsConfigError, TlsHolder
from maildaemon.smtp_in import EdgeSMTP, GroupCommitter, Handler
from maildaemon.spool import Spool
from maildaemon.supervisor import Watchdog, WorkerSupervisor, heartbeat_path, sd_notify
from maildaemon.worker import policy_settings

log = logging.getLogger("maildaemon.daemon")

class Daemon:
    def __init__(self, config: Config, config_path: Path) -> None:
        self.config = config
        # First: an unusable certificate stops the start (exit 78) before anything runs.
        # On SIGHUP, `self.tls.reload(new.smtp)` and `self.limits.reconfigure(...)`.
        self.tls = TlsHolder.from_config(config.smtp)
        self.limits = ConnectionLimits(config.smtp.max_connections,
                                       config.smtp.max_connections_per_ip)
        self.supervisor = WorkerSupervisor(config_path, Watchdog(
            heartbeat_path(config.data_dir), config.spool.worker_stall_seconds))
        spool = Spool(config.data_dir, config.spool.max_attempts)
        spool.leave_checkpoints_to_others()
        self.committer = GroupCommitter(spool, on_commit=self.supervisor.wake)
        self.stopping = asyncio.Event()
        self.connections: set[EdgeSMTP] = set()
        self.handler = Handler(policy_settings(config), self.committer)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        smtp = self.config.smtp
        guard = AcceptGuard(loop)
        guard.install()
        server = await loop.create_server(
            lambda: EdgeSMTP(
                self.handler,
                self.connections,
                data_size_limit=smtp.max_message_size,
                enable_SMTPUTF8=True,
                decode_data=False,
                hostname=smtp.hostname or socket.gethostname(),
                ident="ESMTP",
                timeout=smtp.timeout,
                data_timeout=smtp.data_timeout,
                limits=self.limits,
                max_header_size=smtp.max_header_size,
                tls=self.tls,
                loop=loop,
            ),
            host=smtp.host,
            port=smtp.port,
            reuse_address=True,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)
        self.supervisor.start()
        watcher = loop.create_task(self.supervisor.watch(self.stopping))
        log.info("listening on %s:%d for %s", smtp.host, smtp.port, self.config.mail.domain)
        sd_notify("READY=1")
        await self.stopping.wait()

        sd_notify("STOPPING=1")
        log.info("stopping: closing the listener, draining open transactions")
        server.close()
        self.handler.draining = True
        await self._drain(smtp.drain_seconds)
        await watcher
        await self.supervisor.stop()
        self.committer.close()
        guard.close()
        log.info("stopped")
        return 0

    def _on_signal(self) -> None:
        if self.stopping.is_set():
            log.warning("second signal: exiting now")
            logging.shutdown()
            os._exit(0)
        self.stopping.set()

    async def _drain(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            for conn in list(self.connections):
                if not conn.in_transaction:
                    conn.hang_up()
            if not self.connections:
                break
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.hang_up()
        while self.committer.flushing or self.committer.waiting:
            await asyncio.sleep(0.01)


def serve(config: Config, config_path: Path) -> int:
    async def main() -> int:
        try:
            daemon = Daemon(config, config_path)
        except TlsConfigError as exc:
            log.error("configuration error: %s: %s", config.source, exc)
            return 78  # EX_CONFIG, as cli.main answers any other bad configuration
        return await daemon.run()

    return asyncio.run(main())
