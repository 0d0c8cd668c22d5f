"""Delivers outbox rows: to a maildir (default) or through an SMTP relay.

At-least-once with a stable Message-ID: a row is leased, delivered, then marked sent. A crash
between the two sends it again; the maildir transport names the file after the outbox row so
a second delivery replaces the first instead of doubling it. Temporary failures (4xx, network
errors) are retried with exponential backoff; a permanent refusal (5xx) or running out of
attempts marks the row failed, and it stays listed by `maildaemon outbox ls`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from maildaemon import metrics
from maildaemon.config import Config, OutboundSection
from maildaemon.files import fsync_all, fsync_path
from maildaemon.logfmt import about
from maildaemon.owner import node_of, owner_is_gone, owner_tag
from maildaemon.policy.mailbox import mailbox_problem, needs_smtputf8
from maildaemon.store import Attempt, Leased, OutboxStore, iso, parse_iso

log = logging.getLogger("maildaemon.sender")


class PermanentFailure(Exception):
    """The relay refused the message for good: retrying cannot help."""


BATCH = 64
# Kinds of mail whose recipient the log does not name: that an address asked for a login
# link, and when, is nobody's business (portal/login_mail.py); `outbox ls` shows the row.
UNNAMED = frozenset({"portal_login"})


@dataclass(frozen=True)
class Refused:
    """Delivered, but the relay refused some recipients while it took the others: the row
    is sent (sending it again would double it for everyone else) and says who missed it."""

    recipients: tuple[str, ...]  # "address: reason", one each

    def __str__(self) -> str:
        return "not delivered to " + "; ".join(self.recipients)


# What a transport reports for one row: None (delivered), Refused (delivered to some) or the
# error that stopped it.
Outcome = Exception | Refused | None


class Transport(Protocol):
    # Rows leased, delivered and recorded together. The outcome of each row is recorded
    # as soon as the transport returns it: a row confirmed delivered is marked sent
    # before the next one is tried, so nothing goes out twice because a neighbour failed.
    batch_size: int

    def deliver_batch(self, rows: list[Leased]) -> list[Outcome]:
        """Deliver each row; the outcome of each. Everything reported delivered must be
        durable (or accepted by the relay) when this returns."""


class MaildirTransport:
    """One file per message in `new/`, written through `tmp/` as the maildir spec asks.

    A batch is written to `tmp/` first, then its files are fsynced from a few threads at
    once (the filesystem commits concurrent fsyncs together: a third of the time of one
    fsync after another), and only then renamed into `new/`: a mail reader never finds a
    file there that a power cut could leave short. One directory fsync then covers every
    rename. A redelivery after a crash writes the same file name, so the maildir holds it
    once; a message to several people is one file (its To and Cc name them all).
    """

    batch_size = BATCH

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def deliver_batch(self, rows: list[Leased]) -> list[Outcome]:
        written: list[Path | Exception | None] = [self._write(row) for row in rows]
        errors = iter(fsync_all([item for item in written if isinstance(item, Path)]))
        synced = [next(errors) if isinstance(item, Path) else item for item in written]
        outcomes: list[Outcome] = []
        for item, error in zip(written, synced, strict=True):
            if isinstance(item, Path) and error is None:
                try:
                    os.replace(item, self.root / "new" / item.name)
                except OSError as exc:
                    error = exc
            outcomes.append(error)
        try:
            fsync_path(self.root / "new")  # the renames themselves
        except OSError as exc:
            return [exc] * len(rows)
        return outcomes

    def _write(self, row: Leased) -> Path | Exception | None:
        """The file written in `tmp/` (to be fsynced, then renamed), None if it was
        delivered and read before, or the error."""
        digest = hashlib.sha256(row.message_id.encode()).hexdigest()[:16]
        name = f"{row.id:010d}.{digest}.maildaemon"
        try:
            if (self.root / "cur" / name).exists():
                return None
            tmp = self.root / "tmp" / name
            with open(tmp, "wb") as handle:
                handle.write(row.raw.replace(b"\r\n", b"\n"))  # maildir: Unix line ends
        except Exception as exc:  # this row's failure, not the batch's
            return exc
        return tmp


class SmtpTransport:
    """One relay conversation per message: a refusal, a broken connection or a surprise
    then concerns that message alone, and its outcome is recorded before the next."""

    batch_size = 1

    def __init__(self, section: OutboundSection, ehlo_name: str = "") -> None:
        self.section = section
        self.ehlo_name = ehlo_name  # empty: smtplib's own (the host's name)
        self.password = ""
        if section.password_file:
            self.password = Path(section.password_file).read_text().splitlines()[0]

    def deliver_batch(self, rows: list[Leased]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for row in rows:
            try:
                outcomes.append(self.deliver(row))
            except Exception as exc:  # noqa: BLE001 - any error is this row's, never the batch's
                outcomes.append(exc)
        return outcomes

    def deliver(self, row: Leased) -> Refused | None:
        """Send the row's message to its valid recipients in one transaction.

        A recipient that is not a mailbox is never handed to the relay (rows from before
        enqueue checked them); SMTPUTF8 is asked for when an address or a header needs it.
        """
        if problem := mailbox_problem(row.mail_from):
            raise PermanentFailure(f"sender {problem}")
        invalid = {a: p for a in row.recipients if (p := mailbox_problem(a))}
        rcpts = [a for a in row.recipients if a not in invalid]
        if not rcpts:
            raise PermanentFailure("; ".join(invalid.values()))
        utf8 = [a for a in (row.mail_from, *rcpts) if needs_smtputf8(a)]
        needs_utf8 = bool(utf8) or not row.raw.isascii()
        s = self.section
        client = smtplib.SMTP(s.relay_host, s.relay_port, timeout=s.timeout,
                              local_hostname=self.ehlo_name or None)
        try:
            if s.starttls:
                client.starttls(context=ssl.create_default_context(cafile=s.ca_file or None))
            client.ehlo_or_helo_if_needed()
            if s.username:
                client.login(s.username, self.password)
            if needs_utf8 and not client.has_extn("smtputf8"):
                raise PermanentFailure("relay does not offer SMTPUTF8, needed for "
                                       + (", ".join(utf8) or "the message's UTF-8 headers"))
            refused = client.sendmail(row.mail_from, rcpts, row.raw,
                                      mail_options=["SMTPUTF8"] if needs_utf8 else [])
        except smtplib.SMTPRecipientsRefused as exc:
            raise _all_refused(exc.recipients) from exc
        except smtplib.SMTPResponseException as exc:
            raise _error_for(exc.smtp_code, exc.smtp_error) from exc
        finally:
            _quit_quietly(client)  # the relay has the message: a failed QUIT changes nothing
        missed = [f"{a}: {code} {_text(reply)}" for a, (code, reply) in refused.items()]
        missed += [f"{a}: {p}" for a, p in invalid.items()]
        return Refused(tuple(missed)) if missed else None


def _quit_quietly(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _error_for(code: int, reply: bytes | str) -> Exception:
    if 500 <= code < 600:
        return PermanentFailure(f"{code} {_text(reply)}")
    return OSError(f"{code} {_text(reply)}")


def _all_refused(recipients: dict[str, tuple[int, bytes]]) -> Exception:
    """Every recipient refused: permanent only if every refusal is; one recipient's
    error reads as the relay said it."""
    if len(recipients) == 1:
        [(code, reply)] = recipients.values()
        return _error_for(code, reply)
    text = "; ".join(f"{a}: {code} {_text(reply)}" for a, (code, reply) in recipients.items())
    if all(500 <= code < 600 for code, _ in recipients.values()):
        return PermanentFailure(text)
    return OSError(text)


def lease_node(config: Config) -> str:
    """The node name on outbox leases: none on SQLite (one data directory, one outbox),
    this data directory's on PostgreSQL, whose outbox several nodes share (owner.py)."""
    return node_of(config.data_dir) if config.storage.database.strip() else ""


def transport_of(config: Config) -> Transport:
    """The configured transport, introducing itself to a relay as `smtp.hostname`."""
    return transport_for(config.outbound, config.maildir, config.smtp.hostname)


def transport_for(section: OutboundSection, maildir: Path, ehlo_name: str = "") -> Transport:
    """`ehlo_name`: how we introduce ourselves to the relay (`smtp.hostname`)."""
    if section.transport == "smtp":
        return SmtpTransport(section, ehlo_name)
    return MaildirTransport(maildir)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


class Sender:
    def __init__(self, store: OutboxStore, transport: Transport, section: OutboundSection,
                 node: str = "") -> None:
        """`node` (owner.py `node_of`): set when several nodes share the outbox
        (PostgreSQL), so that leases name this node and only its own are judged."""
        self.store = store
        self.transport = transport
        self.section = section
        self.node = node

    def deliver_due(self, now: datetime, everything: bool = False) -> DeliveryReport:
        """Deliver every pending row that is due (all pending rows with `everything`).

        In batches of the transport's size: lease them in one commit, deliver them durably,
        then record the outcomes in one commit (for the relay, one row at a time: a row the
        relay took is marked sent before the next is tried).
        """
        report = DeliveryReport()
        after = 0  # each row at most once per round, however soon its retry falls due
        for _ in range(10_000_000):  # each round takes rows past `after`: ends with the rows
            batch = self._lease(now, everything, after)
            if not batch:
                break
            after = batch[-1].id
            outcomes = self._deliver(batch)
            attempts = []
            for row, outcome in zip(batch, outcomes, strict=True):
                with about(message_id=row.message_id):  # on its log lines (logfmt.py)
                    attempts.append(self._attempt(row, outcome, now))
            self._record(attempts, now)
            for row, attempt in zip(batch, attempts, strict=True):
                if attempt.status == "sent":
                    report.sent += 1
                elif attempt.status == "failed":
                    report.failed += 1
                else:
                    report.retrying += 1
                metrics.delivery("retried" if attempt.status == "pending" else attempt.status,
                                 row.kind)
        return report

    def _deliver(self, batch: list[Leased]) -> list[Outcome]:
        """The transport's outcomes; whatever escapes it is the error of the rows it had."""
        try:
            outcomes = self.transport.deliver_batch(batch)
        except Exception as exc:  # noqa: BLE001 - reported per row, never lost
            return [exc] * len(batch)
        if len(outcomes) != len(batch):
            return [RuntimeError("the transport lost count of its outcomes")] * len(batch)
        return outcomes

    def release_stale_leases(self) -> int:
        """Leases held by processes of this host (node) that no longer exist go back to the
        pool. A sender killed mid-delivery must not delay that mail until its lease runs
        out; another node's leases are not ours to judge, and run out on their own.
        """
        stale = [row_id for row_id, owner in self.store.leases()
                 if owner_is_gone(owner, self.node)]
        self.store.release(stale)
        return len(stale)

    def seconds_until_due(self, now: datetime) -> float | None:
        """How long until the next pending row is due; None when nothing is pending."""
        due = parse_iso(self.store.next_due())
        if due is None:
            return None
        return max(0.0, (due - now).total_seconds())

    def _lease(self, now: datetime, everything: bool, after: int) -> list[Leased]:
        stamp = iso(now)
        # From the wall clock when a long round's `now` is behind it: a lease that had
        # already run out would let another sender take the row while this one sends it.
        start = max(now, datetime.now(UTC))
        lease = iso(start + timedelta(seconds=self.section.timeout * 4 + 60))
        return self.store.lease(stamp, everything, after, self.transport.batch_size, lease,
                                owner_tag(self.node))

    def _attempt(self, row: Leased, outcome: Outcome, now: datetime) -> Attempt:
        """What the outcome makes of the row: sent, failed for good, or a retry later.

        The relay's 5xx and anything that is neither a network nor an SMTP error (an
        address smtplib cannot encode, a bug) fail the row at once: retrying cannot help,
        and the row must not hold up, or be sent again with, the others.
        """
        attempts = row.attempts + 1
        whom = ", ".join(row.recipients)
        if row.kind in UNNAMED:
            whom = f"the recipient of outbox row {row.id}"
        if outcome is None:
            log.info("delivered %s to %s", row.message_id, whom)
            return Attempt(row.id, "sent", attempts, "", None)
        if isinstance(outcome, Refused):
            log.warning("delivered %s, but %s", row.message_id, outcome)
            return Attempt(row.id, "sent", attempts, str(outcome), None)
        error = outcome
        if isinstance(error, PermanentFailure):
            log.warning("delivery of %s to %s refused: %s", row.message_id, whom, error)
            return Attempt(row.id, "failed", attempts, str(error), None)
        text = f"{type(error).__name__}: {error}"
        if not isinstance(error, OSError | smtplib.SMTPException):
            log.error("delivery of %s to %s failed: %s", row.message_id, whom, text)
            return Attempt(row.id, "failed", attempts, text, None)
        if attempts >= self.section.max_attempts:
            log.warning("delivery of %s failed %d times: %s", row.message_id, attempts, text)
            return Attempt(row.id, "failed", attempts, f"gave up: {text}", None)
        delay = min(self.section.retry_base_seconds * 2 ** (attempts - 1),
                    self.section.retry_max_seconds)
        log.info("delivery of %s deferred (%s), retry in %.0fs", row.message_id, text, delay)
        return Attempt(row.id, "pending", attempts, text, iso(now + timedelta(seconds=delay)))

    def _record(self, attempts: list[Attempt], now: datetime) -> None:
        self.store.record(attempts, iso(now))
