"""The worker process: turns spooled mail into tickets and delivers the outbox.

`maildaemon serve` runs the SMTP edge in its own process and this loop in a second one
(`maildaemon worker`, started and supervised by serve), so parsing, SQLite and rendering run
on the second core instead of competing with SMTP acceptance for one interpreter lock.

The edge writes one byte to a pipe after each spool commit; the worker drains the pipe and
works until the spool is empty, while a second thread delivers the outbox. APScheduler
interval jobs wake it as well (new work that an
`ingest` spooled, outbox retries falling due); a cron job sends the teams' daily digest
at `[notifications] digest_at` (digest.py). End of file on the pipe means the edge is
gone, and the worker stops too. SIGTERM or SIGINT: finish the current message, then exit 0.
SIGHUP: reload the configuration between two batches (reload_worker.py).

The worker never stops for good on its own: a disk, lock or I/O error (faults.py) is logged
and retried with backoff, uncounted; any other error in the loop is logged and ends the
process with status 1, and serve starts a new one. The loop touches a heartbeat file after
every batch and every idle wait; serve's watchdog (supervisor.py) kills and restarts a
worker whose heartbeat stops, e.g. one that hangs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from maildaemon import metrics
from maildaemon.config import Config
from maildaemon.digest import Digests, digest_trigger, past_digest_time
from maildaemon.faults import EnvironmentFault, describe, is_environment_fault
from maildaemon.files import remove_stale_temporaries
from maildaemon.in_force import pins_from_env
from maildaemon.outage import OncePer, Outage
from maildaemon.reload_worker import reload_worker
from maildaemon.render import Renderer, environment
from maildaemon.sender import Sender, lease_node, transport_of
from maildaemon.spool import Spool
from maildaemon.sqlite import Checkpointer
from maildaemon.store import open_store, open_worker_stores
from maildaemon.supervisor import Heartbeat, heartbeat_path
from maildaemon.sweeps import Sweeper
from maildaemon.templates_config import fingerprints, override_sources
from maildaemon.worker import Worker, installation_secret

log = logging.getLogger("maildaemon.workproc")

POLL_SECONDS = 5.0
WORKER_STOP_SECONDS = 10.0
WORKER_NICENESS = 10
# After a disk, lock or I/O error: wait 0.5 s, doubling to 15 s while it lasts. A locked
# database already costs its busy timeout (30 s) per try, so this mostly paces a full disk.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 15.0
# Batches in one round before the loop beats and looks at its signals again (a bound only:
# the loop checks `stop` after every batch).
BATCHES_PER_ROUND = 1000


@dataclass
class Parts:
    spool: Spool
    worker: Worker
    sender: Sender
    checkpointer: Checkpointer

    def work_batch(self) -> int:
        """One batch from the spool into tickets; how many messages it took.

        Raises EnvironmentFault if the batch was given back for a disk, lock or I/O error,
        so that the caller backs off instead of claiming the same batch again at once."""
        results = self.worker.process_batch()
        if results:
            self.checkpointer.poke()  # for the spool: its deletions are not in a Store
        temporary = [result.detail for result in results if result.temporary]
        if temporary:
            raise EnvironmentFault(temporary[0])
        return len(results)

    def close(self) -> None:
        """Stop the checkpointer and close the ticket store's connections."""
        self.checkpointer.stop()
        self.worker.store.close()
        self.sender.store.close()


def worker_parts(config: Config, clock: Callable[[], datetime]) -> Parts:
    """The worker's connections, as the daemon runs them (the benchmarks build theirs here).

    Claims and deletions, leases and "sent" marks are bookkeeping: losing them in a power
    cut repeats work (a no-op, or an at-least-once resend), so they skip fsync. Both
    databases' checkpoints run on a thread of their own (see sqlite.Checkpointer).
    """
    data_dir = config.data_dir
    spool = Spool(data_dir, config.spool.max_attempts, synchronous="NORMAL")
    # On PostgreSQL the ticket database is the server's: only the spool is ours to checkpoint.
    tickets = [] if config.storage.database.strip() else [data_dir / "maildaemon.sqlite3"]
    checkpointer = Checkpointer([spool.path, *tickets])
    checkpointer.take_over(spool.conn)
    worker_store, sender_store = open_worker_stores(config, checkpointer)
    worker = Worker(config, spool, worker_store, clock)
    sender = Sender(sender_store, transport_of(config), config.outbound, lease_node(config))
    return Parts(spool, worker, sender, checkpointer)


class DeliveryThread:
    """The outbox delivered on a thread of its own: while it waits on the disk or the relay,
    the worker goes on turning mail into tickets (measured: a quarter more end-to-end).
    The worker wakes it after each batch; the benchmarks run the same thread."""

    def __init__(self, sender: Sender, clock: Callable[[], datetime],
                 stop: threading.Event) -> None:
        self.sender = sender
        self.clock = clock
        self.stop = stop
        self.woken = threading.Event()
        self.sent = 0
        self.quiet = OncePer()
        # A daemon thread: a delivery stuck on the relay or a locked database must not keep a
        # worker that has to exit alive (a lease left behind is released at the next start).
        self.thread = threading.Thread(target=self._run, name="sender", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        self.woken.set()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.woken.clear()
            wait: float = POLL_SECONDS
            try:
                self.sent += self.sender.deliver_due(self.clock()).sent
                due = self.sender.seconds_until_due(self.clock())
                wait = POLL_SECONDS if due is None else min(due + 0.05, POLL_SECONDS)
                self.quiet.reset()
            except Exception as exc:
                round_failed(exc, self.quiet, "outbox delivery round failed", "retrying")
            self.woken.wait(wait)


def round_failed(exc: Exception, quiet: OncePer, what: str, then: str) -> None:
    """A failed round of the sender or the sweep: a bug with its traceback each time; an
    outage (disk, database) once a minute (outage.py), since every round meets it."""
    if not is_environment_fault(exc):
        log.exception("%s; %s", what, then)
    elif quiet.due():
        log.error("%s (%s); %s", what, describe(exc), then)


class WorkerProcess:
    def __init__(self, config: Config, clock: Callable[[], datetime],
                 wake_fd: int | None = None) -> None:
        config = pins_from_env(config, os.environ)  # serve's restart-only settings (in_force.py)
        self.config = config
        self.clock = clock
        self.wake_fd = wake_fd
        self.parts = worker_parts(config, clock)
        self.spool = self.parts.spool
        self.sender = self.parts.sender
        self.sweeper: Sweeper | None = None
        self.digests: Digests | None = None
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.delivery = DeliveryThread(self.sender, clock, self.stop)
        self.heartbeat: Heartbeat | None = None
        self.claims_abandoned = False  # a batch failed before giving its claims back
        sources = override_sources(config.templates)  # the sweeper's; a reload renews them
        self.env, self.templates = environment(overrides=sources), fingerprints(sources)
        self.scheduler: BackgroundScheduler | None = None
        self.reload_asked = False
        self.sweep_quiet = OncePer()
        self.outage = Outage(config.data_dir)

    def run(self) -> int:
        """0 after a stop that was asked for; 1 after an error the loop cannot retry."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hup)  # before the first beat: serve waits for it
        metrics.enable()  # when serve serves them (it set $PROMETHEUS_MULTIPROC_DIR)
        self.heartbeat = Heartbeat(heartbeat_path(self.config.data_dir))
        self.parts.worker.on_progress = self.heartbeat.beat
        # Acceptance first: when both processes want the CPU, the SMTP edge (a sender is
        # waiting for its 250) wins and the spool absorbs the burst; the worker still has
        # every idle cycle, so it catches up as soon as the burst ends.
        with contextlib.suppress(OSError):
            os.nice(WORKER_NICENESS)
        back, held = self.spool.recover()
        if back or held:
            log.warning("spool recovery: %d claimed entries back to pending, %d held", back,
                        held)
        left = remove_stale_temporaries(self.parts.worker.store.file_roots())
        if left:
            log.warning("removed %d temporary files left by a killed process", left)
        released = self.sender.release_stale_leases()
        if released:
            log.warning("outbox: %d deliveries of a dead process put back", released)
        if self.wake_fd is not None:
            threading.Thread(target=self._read_wakeups, name="wake", daemon=True).start()
        self.delivery.start()
        scheduler = self.scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(self.wake.set, "interval", seconds=POLL_SECONDS, id="poll",
                          coalesce=True, max_instances=1)
        scheduler.add_job(self._sweep, "interval", seconds=self.config.lifecycle.sweep_seconds,
                          id="sweep", coalesce=True, max_instances=1,
                          next_run_time=datetime.now(UTC))
        if self.config.notifications.digest_at:
            self.schedule_digest(scheduler)
        scheduler.start()
        code = 0
        try:
            self._loop()
        except Exception:
            log.exception("worker loop failed; exiting so that serve starts a new worker")
            code = 1
        finally:
            self.stop.set()  # else the sender thread would go on delivering
            scheduler.shutdown(wait=False)
            self.delivery.wake()
            self.delivery.join(WORKER_STOP_SECONDS)
            self.parts.checkpointer.stop()
            if self.heartbeat is not None:
                self.heartbeat.close()
        log.info("worker stopped")
        return code

    def _sweep(self) -> None:
        """The lifecycle sweep, on its own connection (it runs in the scheduler's thread)."""
        try:
            if self.sweeper is None:
                self.sweeper = Sweeper(self.config, open_store(self.config),
                                       Renderer(self.config.mail.domain,
                                                installation_secret(self.config), self.env))
            done = self.sweeper.run(self.clock())
            self.sweep_quiet.reset()
            if done:
                log.info("sweep: %s", dict(done))
                self.delivery.wake()
        except Exception as exc:
            round_failed(exc, self.sweep_quiet, "sweep failed",
                         "the next one retries (timers are in the database)")

    def schedule_digest(self, scheduler: BackgroundScheduler) -> None:
        """The daily digest at its time; and now, if that time has passed today and the
        digest may not have gone out (the day claimed per address stops a second one)."""
        notes = self.config.notifications
        first: dict[str, datetime] = {}  # one job, so never two runs at once
        if past_digest_time(self.clock(), notes.digest_at, notes.digest_timezone):
            first["next_run_time"] = datetime.now(UTC)
        scheduler.add_job(self._digest, digest_trigger(notes.digest_at, notes.digest_timezone),
                          id="digest", coalesce=True, max_instances=1, misfire_grace_time=3600,
                          **first)

    def _digest(self) -> None:
        """Each team's digest for today, on its own connection (a scheduler thread)."""
        try:
            if self.digests is None:
                self.digests = Digests(self.config, open_store(self.config), self.env)
            queued = [o for o in self.digests.run(self.clock()) if o.result == "queued"]
            if queued:
                log.info("digest: %d queued", len(queued))
                self.delivery.wake()
        except Exception:
            log.exception("digest failed; a restart or `maildaemon digest` sends it today")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
        self.wake.set()
        self.delivery.wake()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self.reload_asked = True
        self.wake.set()

    def _reload_if_asked(self) -> None:
        if self.reload_asked:
            self.reload_asked = False
            reload_worker(self)

    def _read_wakeups(self) -> None:
        assert self.wake_fd is not None
        while True:
            try:
                data = os.read(self.wake_fd, 4096)
            except OSError:
                data = b""
            if not data:  # the edge process is gone: so are we
                log.warning("the SMTP edge went away; worker stopping")
                self.stop.set()
                self.wake.set()
                return
            self.wake.set()

    def _loop(self) -> None:
        """Rounds of work until stopped. A disk, lock or I/O error is retried with backoff
        (uncounted: the messages are given back); any other error leaves the loop."""
        failures = 0
        while not self.stop.is_set():
            self.wake.clear()
            self._beat()
            self._reload_if_asked()
            try:
                self._work_until_empty()
            except Exception as exc:
                if not is_environment_fault(exc):
                    raise
                failures += 1
                delay = min(BACKOFF_FIRST_SECONDS * 2 ** min(failures - 1, 16),
                            BACKOFF_MAX_SECONDS)
                if self.outage.failed(describe(exc)):  # once a minute, and for /healthz
                    log.error("worker: temporary failure (%s); try %d, retrying every %.0f s"
                              " at most (logged once a minute); mail stays in the spool",
                              describe(exc), failures, BACKOFF_MAX_SECONDS)
                self.stop.wait(delay)
                continue
            if failures:
                log.warning("worker: working again after %d temporary failures", failures)
                self.outage.over()
                failures = 0
            self.wake.wait(POLL_SECONDS)

    def _work_until_empty(self) -> None:
        if self.claims_abandoned:
            returned = self.spool.give_back_claims("a batch was interrupted")
            self.claims_abandoned = False
            if returned:
                log.warning("worker: %d interrupted claims back to pending", returned)
        for batch in range(BATCHES_PER_ROUND):
            if self.stop.is_set():
                return
            try:
                taken = self.parts.work_batch()
            except Exception:
                self.claims_abandoned = True  # whatever it claimed and did not give back
                raise
            self._beat()
            self._reload_if_asked()  # between batches: one message, one configuration
            if not taken:
                if batch == 0:  # woken with nothing spooled: the portal may have queued
                    self.delivery.wake()  # a login link, which should not wait a poll
                return
            self.delivery.wake()

    def _beat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.beat()
