"""SIGHUP in the worker process: the new configuration taken over between two batches.

The signal handler only sets a flag (workproc.py); the loop calls `reload_worker` before
its next batch, so a message is always decided, rendered and written under one
configuration. The file is the copy the edge accepted (in_force.py), checked
again here (reload.prepare: a file that fails now is refused the same way, and the worker
goes on with what it has). What holds settings is built anew before anything is swapped:
the Worker (policy settings, renderer with the checked templates, contexts, answers), the
outbound transport and its settings, the sweeper and the digests (on their own store
connections, kept), and the scheduler's sweep interval and digest time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from maildaemon.digest import Digests
from maildaemon.in_force import pins_of
from maildaemon.reload import describe_changes, prepare
from maildaemon.render import Renderer
from maildaemon.sender import transport_of
from maildaemon.sweeps import Sweeper
from maildaemon.worker import Worker

if TYPE_CHECKING:
    from maildaemon.workproc import WorkerProcess

log = logging.getLogger("maildaemon.reload")


def reload_worker(proc: WorkerProcess) -> bool:
    """True when the new configuration is in force; False (logged) when it was refused."""
    old = proc.config
    result = prepare(Path(old.source), old, proc.templates, pins_of(os.environ))
    if result.config is None or result.env is None:
        log.error("worker: reload refused, the configuration in force stays: %s",
                  result.error)
        return False
    config, env = result.config, result.env
    try:  # everything built before anything is swapped: a failure changes nothing
        current = proc.parts.worker
        worker = Worker(config, proc.spool, current.store, proc.clock, env)
        worker.on_progress = current.on_progress
        transport = transport_of(config)  # reads outbound.password_file
        sweeper = proc.sweeper and Sweeper(config, proc.sweeper.store, Renderer(
            config.mail.domain, worker.secret, env))
        digests = proc.digests and Digests(config, proc.digests.store, env)
    except (OSError, ValueError) as exc:
        log.error("worker: reload refused, the configuration in force stays: %s", exc)
        return False
    proc.config = config
    proc.env, proc.templates = env, result.templates
    proc.parts.worker = worker
    proc.spool.max_attempts = config.spool.max_attempts
    proc.sender.transport, proc.sender.section = transport, config.outbound
    proc.sweeper, proc.digests = sweeper, digests
    _reschedule(proc, old.lifecycle.sweep_seconds, old.notifications.digest_at,
                old.notifications.digest_timezone)
    log.info("worker: reload applied; changed: %s", describe_changes(old, result))
    return True


def _reschedule(proc: WorkerProcess, sweep_seconds: float, digest_at: str,
                digest_timezone: str) -> None:
    scheduler = proc.scheduler
    if scheduler is None:
        return
    config = proc.config
    if config.lifecycle.sweep_seconds != sweep_seconds:
        scheduler.reschedule_job("sweep", trigger="interval",
                                 seconds=config.lifecycle.sweep_seconds)
    notes = config.notifications
    if (notes.digest_at, notes.digest_timezone) != (digest_at, digest_timezone):
        if scheduler.get_job("digest") is not None:
            scheduler.remove_job("digest")
        if notes.digest_at:
            proc.schedule_digest(scheduler)
