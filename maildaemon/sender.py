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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from maildaemon.config import OutboundSection
from maildaemon.files import fsync_all, fsync_path
from maildaemon.owner import owner_is_gone, owner_tag
from maildaemon.store import Store, iso

log = logging.getLogger("maildaemon.sender")


class PermanentFailure(Exception):
    """The relay refused the message for good: retrying cannot help."""


@dataclass(frozen=True)
class Leased:
    id: int
    message_id: str
    mail_from: str
    rcpt_to: str
    raw: bytes
    attempts: int


class Transport(Protocol):
    def deliver_batch(self, rows: list[Leased]) -> list[Exception | None]:
        """Deliver each row; the error of each one that failed. Everything reported
        delivered must be durable (or accepted by the relay) when this returns."""


class MaildirTransport:
    """One file per message in `new/`, written through `tmp/` as the maildir spec asks.

    A batch is written to `tmp/` first, then its files are fsynced from a few threads at
    once (the filesystem commits concurrent fsyncs together: a third of the time of one
    fsync after another), and only then renamed into `new/`: a mail reader never finds a
    file there that a power cut could leave short. One directory fsync then covers every
    rename. A redelivery after a crash writes the same file name, so the maildir holds it
    once.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def deliver_batch(self, rows: list[Leased]) -> list[Exception | None]:
        written: list[Path | Exception | None] = [self._write(row) for row in rows]
        errors = iter(fsync_all([item for item in written if isinstance(item, Path)]))
        synced = [next(errors) if isinstance(item, Path) else item for item in written]
        outcomes: list[Exception | None] = []
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
        except OSError as exc:
            return exc
        return tmp


class SmtpTransport:
    def __init__(self, section: OutboundSection) -> None:
        self.section = section
        self.password = ""
        if section.password_file:
            self.password = Path(section.password_file).read_text().splitlines()[0]

    def deliver_batch(self, rows: list[Leased]) -> list[Exception | None]:
        """One relay conversation per message: a refusal or a broken connection then
        concerns that message alone."""
        errors: list[Exception | None] = []
        for row in rows:
            try:
                self.deliver(row.mail_from, row.rcpt_to, row.raw)
                errors.append(None)
            except (OSError, smtplib.SMTPException, PermanentFailure) as exc:
                errors.append(exc)
        return errors

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes) -> None:
        s = self.section
        try:
            with smtplib.SMTP(s.relay_host, s.relay_port, timeout=s.timeout) as client:
                if s.starttls:
                    client.starttls(context=ssl.create_default_context(
                        cafile=s.ca_file or None))
                if s.username:
                    client.login(s.username, self.password)
                client.sendmail(mail_from, [rcpt_to], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            _raise_for(code, reply)
        except smtplib.SMTPResponseException as exc:
            _raise_for(exc.smtp_code, exc.smtp_error)



def _raise_for(code: int, reply: bytes | str) -> None:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    if 500 <= code < 600:
        raise PermanentFailure(f"{code} {text}")
    raise OSError(f"{code} {text}")


def transport_for(section: OutboundSection, maildir: Path) -> Transport:
    if section.transport == "smtp":
        return SmtpTransport(section)
    return MaildirTransport(maildir)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Attempt:
    id: int
    status: str  # sent | pending (retry) | failed
    attempts: int
    error: str
    next_attempt_at: str | None


BATCH = 64


class Sender:
    def __init__(self, store: Store, transport: Transport, section: OutboundSection) -> None:
        self.store = store
        self.transport = transport
        self.section = section

    def deliver_due(self, now: datetime, everything: bool = False) -> DeliveryReport:
        """Deliver every pending row that is due (all pending rows with `everything`).

        In batches: lease up to BATCH rows in one commit, deliver them durably, then record
        the outcomes in one commit.
        """
        report = DeliveryReport()
        after = 0  # each row at most once per round, however soon its retry falls due
        for _ in range(100_000):
            batch = self._lease(now, everything, after)
            if not batch:
                break
            after = batch[-1].id
            errors = self.transport.deliver_batch(batch)
            attempts = [self._attempt(row, error, now)
                        for row, error in zip(batch, errors, strict=True)]
            self._record(attempts, now)
            for attempt in attempts:
                if attempt.status == "sent":
                    report.sent += 1
                elif attempt.status == "failed":
                    report.failed += 1
                else:
                    report.retrying += 1
        return report

    def release_stale_leases(self) -> int:
        """Leases held by processes of this host that no longer exist go back to the pool.

        A sender killed mid-delivery must not delay that mail until its lease runs out.
        """
        stale = [
            row_id
            for row_id, owner in self.store.conn.execute(
                "SELECT id, lease_owner FROM outbox WHERE status = 'pending'"
                " AND lease_until IS NOT NULL"
            ).fetchall()
            if owner_is_gone(owner)
        ]
        with self.store.transaction() as conn:
            conn.executemany(
                "UPDATE outbox SET lease_until = NULL, lease_owner = NULL WHERE id = ?",
                [(row_id,) for row_id in stale],
            )
        return len(stale)

    def seconds_until_due(self, now: datetime) -> float | None:
        """How long until the next pending row is due; None when nothing is pending."""
        row = self.store.conn.execute(
            "SELECT min(max(next_attempt_at, coalesce(lease_until, ''))) FROM outbox"
            " WHERE status = 'pending'"
        ).fetchone()
        if row is None or row[0] is None:
            return None
        due = datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=now.tzinfo)
        return max(0.0, (due - now).total_seconds())

    def _lease(self, now: datetime, everything: bool, after: int) -> list[Leased]:
        stamp = iso(now)
        lease = iso(now + timedelta(seconds=self.section.timeout * 4 + 60))
        due = "" if everything else " AND o.next_attempt_at <= :now"
        with self.store.transaction() as conn:
            rows = conn.execute(
                "SELECT o.id, o.message_id, o.mail_from, o.rcpt_to, r.raw, o.attempts"
                " FROM outbox o JOIN outbox_raw r ON r.outbox_id = o.id"
                " WHERE o.status = 'pending' AND o.id > :after"
                " AND (o.lease_until IS NULL OR o.lease_until <= :now)" + due
                + " ORDER BY o.id LIMIT :limit",
                {"now": stamp, "after": after, "limit": BATCH},
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET lease_until = ?, lease_owner = ? WHERE id = ?",
                [(lease, owner_tag(), row[0]) for row in rows],
            )
        return [Leased(int(r[0]), r[1], r[2], r[3], bytes(r[4]), int(r[5])) for r in rows]

    def _attempt(self, row: Leased, error: Exception | None, now: datetime) -> Attempt:
        attempts = row.attempts + 1
        if error is None:
            log.info("delivered %s to %s", row.message_id, row.rcpt_to)
            return Attempt(row.id, "sent", attempts, "", None)
        if isinstance(error, PermanentFailure):
            log.warning("delivery of %s to %s refused: %s", row.message_id, row.rcpt_to, error)
            return Attempt(row.id, "failed", attempts, str(error), None)
        text = f"{type(error).__name__}: {error}"
        if attempts >= self.section.max_attempts:
            log.warning("delivery of %s failed %d times: %s", row.message_id, attempts, text)
            return Attempt(row.id, "failed", attempts, f"gave up: {text}", None)
        delay = min(self.section.retry_base_seconds * 2 ** (attempts - 1),
                    self.section.retry_max_seconds)
        log.info("delivery of %s deferred (%s), retry in %.0fs", row.message_id, text, delay)
        return Attempt(row.id, "pending", attempts, text, iso(now + timedelta(seconds=delay)))

    def _record(self, attempts: list[Attempt], now: datetime) -> None:
        stamp = iso(now)
        with self.store.transaction() as conn:
            for a in attempts:
                conn.execute(
                    "UPDATE outbox SET status = ?, attempts = ?, last_error = ?,"
                    " lease_until = NULL, lease_owner = NULL,"
                    " next_attempt_at = coalesce(?, next_attempt_at), sent_at = ? WHERE id = ?",
                    (a.status, a.attempts, a.error, a.next_attempt_at,
                     stamp if a.status == "sent" else None, a.id),
                )
