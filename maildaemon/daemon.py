"""The composition root: build everything, recover the spool, run the loop, stop cleanly.

Lifecycle (after uvicorn): start-up -> serve -> shutdown. Signal handlers only set a flag.
On SIGTERM/SIGINT the listener closes first; new transactions get 421; transactions already
past MAIL FROM may finish (a client mid-DATA still gets its 250) for `smtp.drain_seconds`;
then idle connections are closed, the worker finishes or abandons its current message (an
abandoned one stays claimed in the spool and is recovered at the next start) and the process
exits 0. A second signal exits at once; the spool makes that safe too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from maildaemon.config import Config
from maildaemon.sender import Sender, transport_for
from maildaemon.smtp_in import EdgeSMTP, GroupCommitter, Handler
from maildaemon.spool import Spool
from maildaemon.store import Store
from maildaemon.worker import Worker, policy_settings

log = logging.getLogger("maildaemon.daemon")


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


class Daemon:
    def __init__(self, config: Config, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.clock = clock
        data_dir = config.data_dir
        self.spool = Spool(data_dir, config.spool.max_attempts)
        self.worker = Worker(config, self.spool, Store(data_dir), clock)
        self.sender = Sender(Store(data_dir), transport_for(config.outbound, config.maildir),
                             config.outbound)
        self.committer = GroupCommitter(Spool(data_dir, config.spool.max_attempts))
        self.worker_wake = asyncio.Event()
        self.sender_wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.connections: set[EdgeSMTP] = set()
        self.handler = Handler(policy_settings(config), self.committer, self.worker_wake.set)
        self.worker_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker")
        self.sender_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sender")

    async def run(self) -> int:
        back, held = self.spool.recover()
        if back or held:
            log.warning("spool recovery: %d claimed entries back to pending, %d held", back,
                        held)
        released = self.sender.release_stale_leases()
        if released:
            log.warning("outbox: %d deliveries of a dead process put back", released)
        loop = asyncio.get_running_loop()
        smtp = self.config.smtp
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
                loop=loop,
            ),
            host=smtp.host,
            port=smtp.port,
            reuse_address=True,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(self.sender_wake.set, "interval", seconds=15, id="outbox_retry",
                          coalesce=True, max_instances=1)
        scheduler.add_job(self.worker_wake.set, "interval", seconds=5, id="spool_poll",
                          coalesce=True, max_instances=1)
        scheduler.start()
        tasks = [loop.create_task(self._work_loop()), loop.create_task(self._send_loop())]
        log.info("listening on %s:%d for %s", smtp.host, smtp.port, self.config.mail.domain)
        sd_notify("READY=1")
        await self.stopping.wait()

        sd_notify("STOPPING=1")
        log.info("stopping: closing the listener, draining open transactions")
        server.close()
        self.handler.draining = True
        await self._drain(smtp.drain_seconds)
        scheduler.shutdown(wait=False)
        self.worker_wake.set()
        self.sender_wake.set()
        done, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
        self.committer.close()
        log.info("stopped")
        if pending:
            # A message still in the worker stays claimed; the next start recovers it.
            logging.shutdown()
            os._exit(0)
        self.worker_pool.shutdown(wait=False)
        self.sender_pool.shutdown(wait=False)
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

    async def _work_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            self.worker_wake.clear()
            while not self.stopping.is_set():
                result = await loop.run_in_executor(self.worker_pool, self.worker.process_next)
                if result is None:
                    break
                self.sender_wake.set()
            if self.stopping.is_set():
                return
            await self.worker_wake.wait()

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            self.sender_wake.clear()
            wait: float | None = None
            try:
                await loop.run_in_executor(self.sender_pool, self.sender.deliver_due,
                                           self.clock())
                wait = await loop.run_in_executor(self.sender_pool,
                                                  self.sender.seconds_until_due, self.clock())
            except Exception:
                log.exception("outbox delivery round failed; retrying later")
            if self.stopping.is_set():
                return
            # Woken by new work, by the next retry falling due, or by the scheduler's tick.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.sender_wake.wait(),
                                       timeout=None if wait is None else wait + 0.05)


def serve(config: Config, clock: Callable[[], datetime]) -> int:
    async def main() -> int:
        return await Daemon(config, clock).run()

    return asyncio.run(main())
