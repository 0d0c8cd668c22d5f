"""What the store hands out and takes back besides the domain's types: outbox rows as the
sender leases and records them, tickets as the commands act on them, mail rendered for
`apply`. Backend-neutral, so the interface can name them."""

from __future__ import annotations

from dataclasses import dataclass

from maildaemon.domain import OutgoingMail


@dataclass(frozen=True)
class Leased:
    id: int
    message_id: str
    mail_from: str
    rcpt_to: str
    raw: bytes
    attempts: int
    cc_tos: tuple[str, ...] = ()
    kind: str = ""  # the template it was rendered from (metrics count sent mail by it)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient of the one message: the primary first."""
        return (self.rcpt_to, *self.cc_tos)


@dataclass(frozen=True)
class Attempt:
    id: int
    status: str  # sent | pending (retry) | failed
    attempts: int
    error: str
    next_attempt_at: str | None


@dataclass(frozen=True)
class TicketRecord:
    """A ticket as the sweep and the agents' commands act on it (a decision sees less:
    domain.TicketRef)."""

    id: int
    number: str
    status: str
    queue: str
    requester: str
    subject: str
    assignee: str | None
    status_since: str | None
    reminded: bool
    waiting_on_customer: bool
    # The SLA clocks (ISO stamps): what the targets are, and when each was met.
    priority: str = "medium"
    tier: str = "free"
    first_response_due: str | None = None
    resolution_due: str | None = None
    first_response_at: str | None = None
    resolved_at: str | None = None


@dataclass(frozen=True)
class Rendered:
    """The ticket number the decision's mail was rendered for, and that mail. For a new
    ticket the number is chosen before rendering (`Store.number_for`) and used here."""

    number: str | None
    mail: tuple[OutgoingMail, ...] = ()


@dataclass(frozen=True)
class MessageBrief:
    """One message of a ticket as a team notification recalls it: who, when, its start."""

    sender: str
    at: str
    text: str  # at most `briefs.BRIEF_CHARS` characters of the sender's own text


@dataclass(frozen=True)
class TicketBrief:
    """What a team notification says of a ticket beyond the message it is about (one
    ticket's rows only: nothing of another ticket can reach its notification)."""

    priority: str
    status: str
    first_response_due: str | None
    due_at: str | None
    files_stored: int  # attachment rows: the next file is `maildaemon attachment` N+1
    recent: tuple[MessageBrief, ...]


@dataclass(frozen=True)
class OpenTicket:
    """A ticket as the daily digest lists it: no customer text beyond the subject."""

    number: str
    subject: str
    queue: str
    priority: str
    status: str
    created_at: str
    first_response_due: str | None


@dataclass(frozen=True)
class UpdateFacts:
    """What decides a premium ticket's next proactive update (store/updates.py): its
    status, and when an agent and our last update last wrote (ISO stamps)."""

    status: str
    waiting_on_customer: bool
    created_at: str
    status_since: str | None
    first_response_due: str | None
    assignee: str | None
    proactive: bool
    last_agent_at: str | None
    last_update_at: str | None


@dataclass(frozen=True)
class Purged:
    """What a purge removed (store/purge.py): the tickets now tombstones, by number, their
    messages, and the files unlinked (raw messages and attachments of 1 MB and more)."""

    numbers: tuple[str, ...] = ()
    messages: int = 0
    files: int = 0


# What the portal shows a customer (store/portal_tickets.py).
@dataclass(frozen=True)
class PortalTicket:
    number: str
    subject: str
    status: str
    created_at: str
    updated_at: str
    closed_at: str | None
    queue: str


@dataclass(frozen=True)
class PortalFile:
    id: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class PortalMessage:
    mine: bool  # written by the customer (else sent by us to them)
    author: str
    date: str
    text: str
    message_id: str | None
    files: tuple[PortalFile, ...]
    refused: tuple[tuple[str, str], ...] = ()  # (filename, why, in the customer's words)
