"""claim -> parse -> load context -> decide (pure) -> render -> apply (write only) -> finish.

The raw bytes are stored by content hash in the same transaction as the ticket rows, so every
stored message can be re-read exactly as it arrived. An exception the message causes puts its
spool entry back (held after `spool.max_attempts`) and the worker moves on to the next
message; one the environment causes (disk full, database locked, I/O) gives the whole batch
back without counting it, and the worker process backs off and tries again.

The mail a decision sends is rendered before `apply` writes anything (a new ticket's number
is chosen first, `number_for`), so `apply` only writes rows. Rendering still runs inside
the batch's transaction: the decision and its mail rest on a context that must be the
database the writes go to (the message before it in the batch may have opened the ticket
this one joins); rendering outside would mean loading every context twice.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from maildaemon.config import Config
from maildaemon.domain import (
    AttachmentLimits,
    Context,
    Decision,
    DmarcTrust,
    InboundMail,
    OutgoingMail,
    PolicySettings,
    Priority,
    ReferenceHit,
    Reply,
)
from maildaemon.faults import describe, is_environment_fault
from maildaemon.parse import parse_mail
from maildaemon.policy.addresses import bounded_list, shorten
from maildaemon.policy.decide import decide
from maildaemon.policy.followup import ticket_of_our_message_id, tokens_in_subject
from maildaemon.policy.priority import describe_hours
from maildaemon.render import Renderer
from maildaemon.spool import Spool, SpoolEntry
from maildaemon.store import Rendered, WorkerStore

log = logging.getLogger("maildaemon.worker")

Clock = Callable[[], datetime]
ECHO_NAME = 100  # characters of a sender's display name in our answers
ECHO_LINE = 200  # characters of one refused file's line (its name is the sender's)
ECHO_REFUSED = 10  # refused files listed by name; then "and 4,990 more"
BATCH = 64


def policy_settings(config: Config) -> PolicySettings:
    return PolicySettings(
        domain=config.mail.domain.lower(),
        queues=dict(config.queues),
        order=config.routing.order,
        default_queue=config.routing.default_queue,
        staff_addresses=frozenset(a.lower() for a in config.staff.addresses),
        staff_domains=frozenset(d.lower() for d in config.staff.domains),
        autoreply_max_per_hour=config.autoreply.max_per_hour,
        sla_hours={
            Priority.CRITICAL: config.sla.critical,
            Priority.HIGH: config.sla.high,
            Priority.MEDIUM: config.sla.medium,
            Priority.LOW: config.sla.low,
        },
        reopen_days=config.lifecycle.reopen_days,
        max_participants=config.mail.max_participants,
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


def parse_entry(entry: SpoolEntry, decode_limit: int | None = None,
                dmarc_trust: DmarcTrust | None = None) -> InboundMail:
    """For a process pool too: parsing is pure CPU and needs nothing but the entry."""
    return parse_mail(entry.raw, entry.mail_from, entry.rcpt_tos, decode_limit, dmarc_trust)


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


class Worker:
    def __init__(self, config: Config, spool: Spool, store: WorkerStore, clock: Clock) -> None:
        self.config = config
        self.spool = spool
        self.store = store
        self.clock = clock
        self.settings = policy_settings(config)
        self.secret = load_secret(config.data_dir)
        self.renderer = Renderer(self.settings.domain, self.secret)
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
        """Apply a batch in ONE ticket-database commit, each message in its own savepoint.

        One fsync for the batch instead of one per message; a message that raises is rolled
        back alone and put back in the spool (held after `spool.max_attempts`). When the
        environment fails instead (disk full, database locked, I/O error: see faults.py),
        the whole batch is rolled back and given back uncounted, marked `temporary`, so
        the caller backs off and an outage never holds mail. Successes are logged only
        after the commit: the log never names a ticket that was rolled back.
        """
        if not entries:
            return []
        now = self.clock()
        done: dict[int, Processed] = {}
        failed: dict[int, str] = {}
        try:
            with self.store.transaction():
                for entry in entries:
                    try:
                        with self.store.savepoint():
                            done[entry.id] = self._process(
                                entry, now, (parsed or {}).get(entry.id))
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
        for result in done.values():
            log.info("spool %s %s", result.spool_id, result.summary)
        self.spool.finish_many(list(done))
        results = dict(done)
        for entry in entries:
            if entry.id in failed:
                state = self.spool.release(entry.id, failed[entry.id])
                results[entry.id] = Processed(entry.spool_id, state, None, failed[entry.id])
        return [results[entry.id] for entry in entries]

    def _give_back(self, entries: list[SpoolEntry], exc: Exception) -> list[Processed]:
        error = describe(exc)
        log.warning("temporary failure on %d messages, not counted, retried later: %s",
                    len(entries), error)
        self.spool.give_back([entry.id for entry in entries], error)
        return [Processed(entry.spool_id, "pending", None, f"temporary failure: {error}",
                          temporary=True) for entry in entries]

    def _process(self, entry: SpoolEntry, now: datetime,
                 mail: InboundMail | None = None) -> Processed:
        if self.store.spool_processed(entry.spool_id):  # a replay after a crash
            done = self.store.processed_outcome(entry.spool_id)
            return Processed(entry.spool_id, done[0] if done else "duplicate",
                             done[1] if done else None, "replay", summary="replayed")
        if mail is None:
            mail = parse_entry(entry, self.config.attachments.max_file_bytes,
                               self.settings.dmarc_trust)
        decision = decide(mail, self.context(mail, now), self.settings, now)
        rendered = self._render(decision, mail, now)
        number = self.store.apply(decision, mail, entry.raw, entry.spool_id, now, rendered)
        trace = "; ".join(decision.trace)  # a property that builds its list on each call
        summary = (f"message {mail.message_id} from {mail.from_addr or '<>'}: "
                   f"{decision.outcome} {number or '-'} ({trace})")
        return Processed(entry.spool_id, decision.outcome, number, trace, summary=summary)

    def context(self, mail: InboundMail, now: datetime) -> Context:
        header_hit = self._header_hit(mail)
        subject_tickets = tuple(
            ref for ref in (self.store.ticket_ref(n) for n in tokens_in_subject(mail.subject))
            if ref is not None
        )
        named = [t.number for t in subject_tickets] + ([header_hit.ticket.number]
                                                        if header_hit else [])
        return Context(
            already_processed=self.store.received_before(mail.message_id, mail.dedup_key),
            header_hit=header_hit,
            subject_tickets=subject_tickets,
            recent_autoreplies_to_sender=self.store.recent_autoreplies(mail.from_addr, now)
            if mail.from_addr else 0,
            attachment_usage={n: self.store.attachment_usage(n) for n in named}
            if mail.attachments else {},
            replied_to_survey=self.store.is_survey((*mail.in_reply_to, *mail.references)),
        )

    def _header_hit(self, mail: InboundMail) -> ReferenceHit | None:
        # In-Reply-To first, then References from the newest back to the thread's root.
        candidates = [*mail.in_reply_to, *reversed(mail.references)]
        for message_id in dict.fromkeys(candidates):
            number = ticket_of_our_message_id(message_id, self.secret, self.settings.domain)
            if number is not None:
                ref = self.store.ticket_ref(number)
                via = "our_message_id"
            else:
                ref = self.store.ticket_of_received_message(message_id)
                via = "stored_message_id"
            if ref is not None:
                return ReferenceHit(ticket=ref, via=via, message_id=message_id)
        return None

    def _render(self, decision: Decision, mail: InboundMail, now: datetime) -> Rendered:
        """The mail the decision sends, rendered before `apply` writes anything (for a new
        ticket, under the number `number_for` chose for it)."""
        number = self.store.number_for(decision)
        replies = [r for r in (decision.reply, *decision.more_mail) if r is not None]
        if number is None or not replies:
            return Rendered(number)
        render = self._reply_renderer(decision, mail, now)
        subject = (decision.ticket or decision.new_ticket or mail).subject
        return Rendered(number, tuple(render(number, subject, reply) for reply in replies))

    def _reply_renderer(
        self, decision: Decision, mail: InboundMail, now: datetime
    ) -> Callable[[str, str, Reply], OutgoingMail]:
        # What we echo of the sender's mail is bounded, so no answer of ours is much larger
        # than its template: a 3 MB name or 5,000 refused files make a short mail.
        refused = [shorten(words, ECHO_LINE) for words in decision.refused_words]
        variables: dict[str, object] = {"customer_name": shorten(mail.from_name, ECHO_NAME),
                                        "priority": "", "first_response": "",
                                        "refused": bounded_list(refused, ECHO_REFUSED)}
        if decision.new_ticket is not None:
            hours = self.settings.sla_hours[decision.new_ticket.priority]
            variables["priority"] = str(decision.new_ticket.priority)
            variables["first_response"] = describe_hours(hours)
            variables["follows"] = decision.new_ticket.follows or ""

        def render(number: str, ticket_subject: str, reply: Reply) -> OutgoingMail:
            values = dict(variables)
            if reply.template == "agent_reply":  # a staff member's emailed answer
                values.update(customer_name="", body=mail.own_text or mail.text,
                              agent_name=shorten(mail.from_name, ECHO_NAME)
                              or mail.from_addr.split("@")[0],
                              status_line="")
            return self.renderer.render(
                reply.template,
                number=number,
                queue=reply.queue,
                queue_address=self.config.queue_address(reply.queue),
                to=reply.to,
                ticket_subject=ticket_subject,
                now=now,
                in_reply_to=mail.message_id,
                references=mail.references,
                auto_submitted=reply.auto_submitted,
                variables=values,
            )

        return render
