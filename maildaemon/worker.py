"""claim -> parse -> load context -> decide (pure) -> render -> [lock] check -> write -> finish.

The raw bytes are stored by content hash in the same transaction as the ticket rows, so every
stored message can be re-read exactly as it arrived. An exception the message causes puts its
spool entry back (held after `spool.max_attempts`) and the worker moves on to the next
message; one the environment causes (disk full, database locked, I/O) gives the whole batch
back without counting it, and the worker process backs off and tries again.

Parsing, deciding and rendering run before the write transaction, on reads; inside it each
message's context is read again and the prepared mail kept only when what it was rendered
from is unchanged (`render_inputs`). The write lock is held for index lookups and inserts,
never for a template (docs/architecture.md, "The worker").
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2

from maildaemon import metrics
from maildaemon.answers import Answers, render_inputs
from maildaemon.config import Config
from maildaemon.context import ContextLoader
from maildaemon.domain import (
    AttachmentLimits,
    Context,
    Decision,
    DmarcTrust,
    InboundMail,
    PolicySettings,
)
from maildaemon.escalation_config import escalation_settings
from maildaemon.faults import describe, is_environment_fault
from maildaemon.held_alert import HeldAlerts
from maildaemon.limits_config import limit_settings
from maildaemon.logfmt import about, note
from maildaemon.outage import OncePer
from maildaemon.parse import parse_mail
from maildaemon.policy.decide import decide
from maildaemon.policy.sensitive import ALL, names
from maildaemon.priority_config import priority_rules
from maildaemon.privacy_config import mask_kinds
from maildaemon.render import Renderer
from maildaemon.sla_config import hours_of, sla_settings
from maildaemon.spool import Spool, SpoolEntry
from maildaemon.store import Rendered, WorkerStore
from maildaemon.store.backend import shared_secret
from maildaemon.store.errors import is_lost_race
from maildaemon.templates_config import environment_for

log = logging.getLogger("maildaemon.worker")

Clock = Callable[[], datetime]
BATCH = 64
RACE_RETRIES = 2  # lost races to another node per message before it counts as failed


def policy_settings(config: Config) -> PolicySettings:
    sla = sla_settings(config)
    return PolicySettings(
        domain=config.mail.domain.lower(),
        queues=dict(config.queues),
        order=config.routing.order,
        default_queue=config.routing.default_queue,
        staff_addresses=frozenset(a.lower() for a in config.staff.addresses),
        staff_domains=frozenset(d.lower() for d in config.staff.domains),
        autoreply_max_per_hour=config.autoreply.max_per_hour,
        sla_hours={p: hours_of(t, sla.calendar) for p, t in sla.table.first_response.items()},
        reopen_days=config.lifecycle.reopen_days,
        max_participants=config.mail.max_participants,
        teams=dict(config.teams),
        remind_days=config.lifecycle.remind_days,
        resolved_days=config.lifecycle.resolved_days,
        **escalation_settings(config),
        dmarc_trust=DmarcTrust(
            authserv_id=config.mail.trusted_authserv_id.strip(),
            domains=frozenset(d.lower() for d in config.staff.domains)
            | frozenset(a.lower().rpartition("@")[2] for a in config.staff.addresses),
        ),
        attachment_limits=AttachmentLimits(
            max_files=config.attachments.max_files,
            max_file_bytes=config.attachments.max_file_bytes,
            max_ticket_bytes=config.attachments.max_ticket_bytes,
            allowed_types=frozenset(config.attachments.allowed_types),
        ),
        sla=sla,
        priority_rules=priority_rules(config.priority),
        **limit_settings(config),
        privacy_notice=config.privacy.notice,
    )


def load_secret(data_dir: Path) -> bytes:
    """The per-installation HMAC key for our Message-IDs, created once (mode 0600)."""
    path = data_dir / "secret.key"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
        handle.flush()
        os.fsync(handle.fileno())
    return bytes.fromhex(path.read_text().strip())


def installation_secret(config: Config) -> bytes:
    """The HMAC key of the installation: on PostgreSQL one for all nodes, kept in the
    database (issue 15, 4); on SQLite `data_dir/secret.key`."""
    shared = shared_secret(config, secrets.token_hex(32))
    return bytes.fromhex(shared) if shared is not None else load_secret(config.data_dir)


def parse_entry(entry: SpoolEntry, decode_limit: int | None = None,
                dmarc_trust: DmarcTrust | None = None,
                mask: frozenset[str] = ALL) -> InboundMail:
    """For a process pool too: parsing (and masking) is pure CPU and needs nothing but the
    entry."""
    return parse_mail(entry.raw, entry.mail_from, entry.rcpt_tos, decode_limit, dmarc_trust,
                      mask)


class SensitiveDataLeft(Exception):
    """masking.py could not mask everything it found: the message is held in the spool
    (its fault: counted), never kept or answered half masked."""


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Processed:
    spool_id: str
    outcome: str
    ticket: str | None
    detail: str = ""
    # The environment failed, not the message: given back uncounted; the caller backs off.
    temporary: bool = False
    summary: str = ""  # the log line's text, written once the batch is committed
    message_id: str = ""  # for the log lines about it (logfmt.py)
    refused_files: int = 0  # attachments not kept, for metrics
    acknowledged: bool = False  # an acknowledgement was queued


@dataclass(frozen=True)
class Prepared:
    """A message decided and rendered before the write lock; `decision` is None for a
    replay (already processed before a crash), which `_write` answers from the store."""

    entry: SpoolEntry
    mail: InboundMail
    context: Context | None
    decision: Decision | None
    rendered: Rendered


class Worker:
    def __init__(self, config: Config, spool: Spool, store: WorkerStore, clock: Clock,
                 env: jinja2.Environment | None = None) -> None:
        self.config = config
        self.spool = spool
        self.store = store
        self.clock = clock
        self.settings = policy_settings(config)
        self.mask = mask_kinds(config.privacy)  # parse.py masks these before anything
        self.secret = installation_secret(config)
        self.renderer = Renderer(self.settings.domain, self.secret,
                                 env or environment_for(config.templates))
        self.contexts = ContextLoader(store, self.settings, self.secret)
        self.answers = Answers(config, self.settings, self.renderer, store)
        self.held_alerts = HeldAlerts(config, store)
        self.give_backs = OncePer()  # an outage gives batches back every few seconds
        # Called after each message of a batch: the worker process beats its heartbeat, so
        # a long batch of large messages is not taken for a hang by serve's watchdog.
        self.on_progress: Callable[[], None] = _nothing

    def process_next(self) -> Processed | None:
        results = self.process_batch(1)
        return results[0] if results else None

    def process_batch(self, limit: int = BATCH) -> list[Processed]:
        return self.process_entries(self.spool.claim_batch(limit))

    def process(self, entry: SpoolEntry) -> Processed:
        return self.process_entries([entry])[0]

    def process_entries(self, entries: list[SpoolEntry],
                        parsed: dict[int, InboundMail] | None = None) -> list[Processed]:
        """Decide and render a batch outside the write lock, then write it in ONE commit.

        First, with no lock held, each message is parsed, its context loaded, decided and
        its mail rendered. Then, in one transaction, each message in its own savepoint:
        its context is loaded again; when it is unchanged (or changed in a way that does
        not change the mail, such as one more acknowledgement counted for its sender) the
        rendered mail is written as it is; when a message earlier in the batch, or another
        process, changed what it rests on (a duplicate of the message before it, a rate
        limit reached, a ticket number taken), it is decided and rendered again there.

        One fsync for the batch instead of one per message; a message that raises is rolled
        back alone and put back in the spool (held after `spool.max_attempts`). When the
        environment fails instead (disk full, database locked, I/O error: see faults.py),
        the whole batch is given back uncounted, marked `temporary`, so the caller backs
        off and an outage never holds mail. Successes are logged only after the commit:
        the log never names a ticket that was rolled back.
        """
        if not entries:
            return []
        now = self.clock()
        started = time.monotonic()
        failed: dict[int, str] = {}
        prepared: dict[int, Prepared] = {}
        numbers: set[str] = set()  # drawn for this batch's new tickets, each once
        for entry in entries:
            with about(spool=entry.spool_id):  # every line about it names it (logfmt.py)
                try:
                    prepared[entry.id] = self._prepare(entry, now,
                                                       (parsed or {}).get(entry.id), numbers)
                    self.on_progress()
                except Exception as exc:
                    if is_environment_fault(exc):
                        return self._give_back(entries, exc)
                    log.exception("spool %s: processing failed", entry.spool_id)
                    failed[entry.id] = describe(exc)
        done: dict[int, Processed] = {}
        try:
            with self.store.transaction():
                for entry in entries:
                    if entry.id not in prepared:
                        continue
                    with about(spool=entry.spool_id,
                               message_id=prepared[entry.id].mail.message_id):
                        try:
                            done[entry.id] = self._write_saved(prepared[entry.id], now)
                            self.on_progress()
                        except Exception as exc:
                            if is_environment_fault(exc):
                                raise  # not this message's fault: abandon the batch
                            log.exception("spool %s: processing failed", entry.spool_id)
                            failed[entry.id] = describe(exc)
        except Exception as exc:  # nothing of the batch is stored
            if is_environment_fault(exc):
                return self._give_back(entries, exc)
            log.exception("ticket database commit failed for %d messages", len(entries))
            done.clear()
            failed = {entry.id: describe(exc) for entry in entries}
        seconds = time.monotonic() - started
        for entry_id, result in done.items():
            with about(spool=result.spool_id, message_id=result.message_id,
                       ticket=result.ticket):
                log.info("spool %s %s", result.spool_id, result.summary)
            metrics.processed(result.outcome, seconds, result.refused_files)
            if result.acknowledged:
                metrics.acknowledged_since(prepared[entry_id].entry.received_at)
        # The spool's copy of a masked message held the data as received: scrubbed.
        self.spool.finish_many(list(done), scrub=[i for i in done if prepared[i].mail.removed])
        results = dict(done)
        for entry in entries:
            if entry.id in failed:
                ready = prepared.get(entry.id)
                with about(spool=entry.spool_id,
                           message_id=ready.mail.message_id if ready else None):
                    state = self.spool.release(entry.id, failed[entry.id])
                    if state == "held":  # nobody would know to look at it: ops are told
                        self.held_alerts.alert(entry, failed[entry.id], now)
                results[entry.id] = Processed(entry.spool_id, state, None, failed[entry.id])
                metrics.processed(state, time.monotonic() - started)
        return [results[entry.id] for entry in entries]

    def _give_back(self, entries: list[SpoolEntry], exc: Exception) -> list[Processed]:
        error = describe(exc)
        log.log(logging.WARNING if self.give_backs.due() else logging.DEBUG,
                "temporary failure on %d messages, not counted, retried later: %s",
                len(entries), error)
        self.spool.give_back([entry.id for entry in entries], error)
        return [Processed(entry.spool_id, "pending", None, f"temporary failure: {error}",
                          temporary=True) for entry in entries]

    def _prepare(self, entry: SpoolEntry, now: datetime, mail: InboundMail | None,
                 numbers: set[str]) -> Prepared:
        """Parse, decide and render with no lock held (reads only)."""
        if mail is None:
            mail = parse_entry(entry, self.config.attachments.max_file_bytes,
                               self.settings.dmarc_trust, self.mask)
        if mail.removed is not None and not mail.removed.complete:
            raise SensitiveDataLeft(f"{', '.join(names(mail.removed.kinds))} found that could"
                                    " not all be masked; held rather than kept")
        note(message_id=mail.message_id)
        if self.store.spool_processed(entry.spool_id):  # a replay: `_write` answers it
            return Prepared(entry, mail, None, None, Rendered(None))
        context = self.contexts.load(mail, now)
        decision = decide(mail, context, self.settings, now)
        return Prepared(entry, mail, context, decision,
                        self.answers.render(decision, mail, now, numbers))

    def _write_saved(self, prepared: Prepared, now: datetime) -> Processed:
        """`_write` in a savepoint of its own. When another node committed the same message
        (or drew the same ticket number) while this one wrote it, the unique key refuses
        this copy (store/errors.py `is_lost_race`): the savepoint is rolled back and the
        message decided again on what the other node wrote (a duplicate now), a bounded
        number of times; whatever else is raised is the caller's to judge."""
        for _ in range(RACE_RETRIES):
            try:
                with self.store.savepoint():
                    return self._write(prepared, now)
            except Exception as exc:
                if not is_lost_race(exc):
                    raise
                log.info("spool %s: another node wrote it first (%s); deciding again",
                         prepared.entry.spool_id, describe(exc))
        with self.store.savepoint():
            return self._write(prepared, now)

    def _write(self, prepared: Prepared, now: datetime) -> Processed:
        """Inside the batch's transaction: check what the decision rests on, then write."""
        entry, mail = prepared.entry, prepared.mail
        if self.store.spool_processed(entry.spool_id):  # a replay after a crash
            done = self.store.processed_outcome(entry.spool_id)
            return Processed(entry.spool_id, done[0] if done else "duplicate",
                             done[1] if done else None, "replay", summary="replayed",
                             message_id=mail.message_id or "")
        decision, rendered = prepared.decision, prepared.rendered
        if decision is not None and decision.ticket is not None:
            # Another node's reply to the same ticket commits first, or waits for this one:
            # the context read next includes it (PostgreSQL; a no-op on SQLite).
            self.store.hold_ticket(decision.ticket.number)
        context = self.contexts.load(mail, now)
        if decision is None or context != prepared.context:
            fresh = decide(mail, context, self.settings, now)
            if decision is None or render_inputs(fresh) != render_inputs(decision):
                rendered = self.answers.render(fresh, mail, now, set())
            decision = fresh
        if decision.new_ticket is not None and rendered.number is not None \
                and self.store.ticket_ref(rendered.number) is not None:
            rendered = self.answers.render(decision, mail, now, set())  # the number was taken
        number = self.store.apply(decision, mail, mail.kept_raw or entry.raw, entry.spool_id,
                                  now, rendered, now - self.settings.duplicate_window)
        trace = "; ".join(decision.trace)  # a property that builds its list on each call
        summary = (f"message {mail.message_id} from {mail.from_addr or '<>'}: "
                   f"{decision.outcome} {number or '-'} ({trace})")
        return Processed(entry.spool_id, decision.outcome, number, trace, summary=summary,
                         message_id=mail.message_id or "",
                         refused_files=sum(not v.accepted for v in decision.attachments),
                         acknowledged=any(m.kind == "ack" for m in rendered.mail))
