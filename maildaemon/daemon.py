"""The composition root of `serve`: the SMTP edge here, the worker in a supervised child.

Lifecycle (after uvicorn): start-up -> serve -> shutdown. Signal handlers only set a flag.
On SIGTERM/SIGINT the listener closes first; new transactions get 421; transactions already
past MAIL FROM may finish (a client mid-DATA still gets its 250) for `smtp.drain_seconds`;
then idle connections are closed and the worker is asked to stop: it finishes or abandons its
current message (an abandoned one stays claimed in the spool and is recovered at the next
start) and both processes exit 0. A second signal exits at once; the spool makes that safe.

The worker child (workproc.py) is restarted with backoff if it dies; acceptance goes on
meanwhile, since the spool holds what arrives.

SIGHUP reloads the configuration and templates in both processes (reload_edge.py): the
worker reads the copy the edge accepted (in_force.py), started with its
restart-only settings pinned to the edge's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
from pathlib import Path

from maildaemon.config import Config, ConfigError
from maildaemon.descriptors import AcceptGuard
from maildaemon.edge_limits import ConnectionLimits
from maildaemon.edge_tls import TlsConfigError, TlsHolder, context_from
from maildaemon.in_force import PIN_ENV, pins_for_env, write_in_force, write_templates_in_force
from maildaemon.listener import start_listener
from maildaemon.lmtp import EdgeLMTP
from maildaemon.metrics_http import MetricsError
from maildaemon.observe import Observer
from maildaemon.portal.supervisor import PortalBindError, PortalSupervisor, bind_portal
from maildaemon.reload import prepare
from maildaemon.reload_edge import EdgeReloader
from maildaemon.smtp_in import EdgeSMTP, GroupCommitter, Handler
from maildaemon.spool import Spool
from maildaemon.store.backend import storage_problem
from maildaemon.supervisor import Watchdog, WorkerSupervisor, heartbeat_path, sd_notify
from maildaemon.worker import policy_settings

log = logging.getLogger("maildaemon.daemon")
EX_CONFIG = 78

class Daemon:
    def __init__(self, config: Config, config_path: Path, in_force: Path | None = None,
                 templates: dict[str, str] | None = None) -> None:
        self.config = config
        # First: an unusable certificate stops the start (exit 78) before anything runs.
        self.tls = TlsHolder.from_config(config.smtp)
        self.renewed_tls: ssl.SSLContext | None = None  # loaded by a reload's check
        self.limits = ConnectionLimits(config.smtp.max_connections,
                                       config.smtp.max_connections_per_ip)
        self.supervisor = WorkerSupervisor(in_force or config_path, Watchdog(
            heartbeat_path(config.data_dir), config.spool.worker_stall_seconds))
        self.supervisor.env[PIN_ENV] = pins_for_env(config)
        self.reloader = EdgeReloader(config_path, lambda: self.config, templates)
        # The edge's own settings first, then any appended (TLS, limits, metrics), and the
        # worker last.
        self.reloader.checks.append(self._load_tls)
        self.reloader.on_reload.append(self._apply_config)
        self.reloader.then = self.supervisor.reload
        spool = Spool(config.data_dir, config.spool.max_attempts)
        spool.leave_checkpoints_to_others()
        self.committer = GroupCommitter(spool, on_commit=self.supervisor.wake)
        self.stopping = asyncio.Event()
        self.connections: set[EdgeSMTP] = set()
        self.handler = Handler(policy_settings(config), self.committer,
                               config.smtp.max_recipients)
        self.observer = Observer(config, self.supervisor)  # before the worker starts
        # The portal's socket is bound now: a taken port stops the start (exit 78).
        portal_socket = bind_portal(config)
        self.portal = None if portal_socket is None else PortalSupervisor(
            in_force or config_path, portal_socket, self.supervisor.wake,
            {PIN_ENV: pins_for_env(config)})
        if self.portal is not None:
            self.reloader.on_reload.append(lambda _config: self._restart_portal())

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        smtp = self.config.smtp
        try:
            self.observer.bind()
        except MetricsError as exc:
            log.error("%s", exc)
            return EX_CONFIG
        guard = AcceptGuard(loop)
        guard.install()
        lmtp = smtp.protocol == "lmtp"
        edge = EdgeLMTP if lmtp else EdgeSMTP
        server = await start_listener(loop, lambda: edge(
            self.handler,  # self.config: a reload applies to the next connection
            self.connections,
            data_size_limit=self.config.smtp.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.config.smtp.hostname or socket.gethostname(),
            ident="LMTP" if lmtp else "ESMTP",
            timeout=self.config.smtp.timeout,
            data_timeout=self.config.smtp.data_timeout,
            limits=self.limits,
            max_header_size=self.config.smtp.max_header_size,
            tls=self.tls,
            loop=loop,
        ), smtp)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)
        self.reloader.install(loop)
        self.supervisor.start()
        watcher = loop.create_task(self.supervisor.watch(self.stopping))
        portal_watcher = None
        if self.portal is not None:
            self.portal.start(loop)
            portal_watcher = loop.create_task(self.portal.watch(self.stopping))
        self.observer.start(server.server, self.stopping, lambda: self.reloader.last_error)
        log.info("listening (%s) on %s for %s", smtp.protocol.upper(), server.where,
                 self.config.mail.domain)
        sd_notify("READY=1")
        await self.stopping.wait()

        sd_notify("STOPPING=1")
        log.info("stopping: closing the listener, draining open transactions")
        self.reloader.closed = True
        server.close()
        self.handler.draining = True
        await self._drain(self.config.smtp.drain_seconds)
        if self.portal is not None and portal_watcher is not None:
            await portal_watcher
            await self.portal.stop(loop)  # its open requests end before the worker's stop
        await watcher
        await self.supervisor.stop()
        await self.observer.stop()
        self.committer.close()
        guard.close()
        log.info("stopped")
        return 0

    def _apply_config(self, config: Config) -> None:
        """A reloaded configuration, for what the edge reads: RCPT verdicts now, sizes and
        timeouts from the next connection, the worker watchdog's patience."""
        settings = policy_settings(config)
        self.config = config
        self.handler.settings = settings
        self.handler.max_recipients = config.smtp.max_recipients
        self.limits.reconfigure(config.smtp.max_connections, config.smtp.max_connections_per_ip)
        self.tls.use(self.renewed_tls, config.smtp.require_tls)
        if self.supervisor.watchdog is not None:
            self.supervisor.watchdog.stall_seconds = config.spool.worker_stall_seconds

    def _restart_portal(self) -> None:
        """A reload restarts the portal on the configuration serve just checked."""
        if self.portal is not None:
            self.portal.restart_soon()

    def _load_tls(self, config: Config) -> None:
        """On the reload thread: the certificate and key read again (a renewed certificate
        needs no restart); one that does not load refuses the reload (TlsConfigError)."""
        self.renewed_tls = context_from(config.smtp)

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
    """Exit 78 when the templates do not render or the certificate does not load
    (check-config's checks, at start too)."""
    start = prepare(config_path, config)
    if start.config is None:
        log.error("configuration error: %s", start.error)
        return EX_CONFIG
    problem = storage_problem(config)
    if problem:
        log.error("configuration error: %s: %s", config.source, problem)
        return EX_CONFIG
    write_templates_in_force(config.data_dir, start.sources)
    in_force = write_in_force(config.data_dir, start.text)

    async def main() -> int:
        try:
            daemon = Daemon(start.config or config, config_path, in_force, start.templates)
        except TlsConfigError as exc:
            log.error("configuration error: %s: %s", config.source, exc)
            return EX_CONFIG
        except PortalBindError as exc:
            log.error("configuration error: %s: %s", config.source, exc)
            return EX_CONFIG
        return await daemon.run()

    try:
        return asyncio.run(main())
    except ConfigError as exc:  # found at start (smtp.socket ...): refused like a bad file
        log.error("configuration error: %s", exc)
        return EX_CONFIG
