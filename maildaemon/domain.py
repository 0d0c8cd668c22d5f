"""Value types shared by the edges and the pure policy core.

Everything here is immutable data: the parser produces an `InboundMail`, the worker gathers a
`Context` from the store, `policy.decide` turns both into a `Decision`, and the store applies
it in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # only a type here: policy/sla.py imports this module
    from maildaemon.policy.sla import SlaSettings

MIB = 1024 * 1024

DEFAULT_ALLOWED = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp",
    "video/mp4", "video/quicktime",
    "text/plain", "text/csv", "application/json", "application/pdf",
    "message/rfc822",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
})


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Tier(StrEnum):
    """A customer's plan (the customer directory, `maildaemon customers`): what they are
    promised. Unknown senders are free; a tier written in a mail is never believed."""

    FREE = "free"
    PLUS = "plus"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


@dataclass(frozen=True)
class Customer:
    """One entry of the customer directory; `email` is lower-cased."""

    email: str
    tier: Tier
    name: str = ""
    account_manager: str | None = None


@dataclass(frozen=True)
class CustomerChange:
    """An import row or `customers set`: None leaves what the directory has (a column the
    file lacks, an option not given); an `account_manager` of "" removes the one it has."""

    email: str
    tier: Tier
    name: str | None = None
    account_manager: str | None = None


class Outcome(StrEnum):
    DUPLICATE = "duplicate"
    NEW_TICKET = "new_ticket"
    FOLLOWUP = "followup"
    AUTOMATIC_ON_TICKET = "automatic_on_ticket"
    AUTOMATIC = "automatic"
    AGENT_ANSWER = "agent_answer"  # an agent's mail to a ticket's reply address
    AGENT_COMMENT = "agent_comment"  # to its comment address (or #note-only): internal
    AGENT_REFUSED = "agent_refused"  # to a reply address whose tag is not the sender's
    # Mail to the escalation address that may not escalate what it names (a stranger, no
    # such ticket): kept off every ticket, answered the same either way.
    ESCALATION_REFUSED = "escalation_refused"


@dataclass(frozen=True)
class Attachment:
    """A file found in a message: typed by its content, named for display only."""

    filename: str
    declared_type: str
    detected_type: str
    size: int
    sha256: str
    inline: bool = False
    data: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True)
class AttachmentLimits:
    max_files: int = 5
    max_file_bytes: int = 10 * MIB
    max_ticket_bytes: int = 50 * MIB
    allowed_types: frozenset[str] = DEFAULT_ALLOWED


@dataclass(frozen=True)
class AttachmentUsage:
    """What a ticket already holds."""

    files: int = 0
    bytes: int = 0
    inline_hashes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class InboundMail:
    """What the worker needs of one received message, decoded defensively from raw bytes."""

    message_id: str | None
    dedup_key: str
    from_addr: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    # Lower-cased header names -> first value, only those the loop rules read.
    loop_headers: dict[str, str]
    content_type: str
    text: str
    envelope_sender: str | None
    envelope_rcpts: tuple[str, ...]
    raw_sha256: str
    size: int
    defects: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    own_text: str = ""  # the text without the history it quotes (policy/quoting.py)
    # The From domain, when our own MTA's Authentication-Results says DMARC passed for it
    # (parse.py reads it only for staff domains); "" when unproven. See DmarcTrust.
    dmarc_pass_domain: str = ""
    # What our MTA's Authentication-Results header says (authresults.py), for judging any
    # sender (policy/authenticity.py); None: no readable header of the trusted authserv-id,
    # or none is configured.
    auth_results: tuple[AuthResult, ...] | None = None
    # A machine report inside the message (reports.py): a delivery status notification,
    # a feedback report, a read receipt, or a bounce that follows no standard.
    report: DeliveryReport | None = None
    # Sensitive data masked before anything saw the message (masking.py): what and where,
    # never the values; None when there was none. Every field above is read from the
    # masked copy, `kept_raw`, which is stored in place of the received bytes.
    removed: Removed | None = None
    kept_raw: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Removed:
    """What masking.py took out of a message: the kinds (policy/sensitive.py, in its order:
    "card", "ssn", "password") and the places ("the subject", "the text", a file's name)."""

    kinds: tuple[str, ...]
    places: tuple[str, ...]
    # Found outside the quoted history (the subject, the own text, a file): the customer
    # wrote it now and is told; a reply that only quotes it again is not told again.
    own_words: bool = True
    # False: something could still be found in the masked copy; the worker holds the
    # message in the spool rather than keep it.
    complete: bool = True


@dataclass(frozen=True)
class TicketRef:
    """The part of an existing ticket that a decision may look at."""

    number: str
    status: Status
    queue: str
    requester: str
    subject: str
    participants: frozenset[str]
    closed_at: datetime | None = None
    # For agents' mailed commands (#priority, #assign): what they change from.
    priority: Priority | None = None
    assignee: str | None = None
    # The SLA clock (policy/sla.py): when the status began (a wait on the customer pauses
    # the resolution clock from then), the customer's tier at creation, the due time.
    status_since: datetime | None = None
    tier: Tier = Tier.FREE
    resolution_due: datetime | None = None
    escalated: bool = False  # escalated once: a second request changes nothing
    # When the last receipt confirmation went out (ack, reply_received, the flood and
    # duplicate notices), and the last duplicate notice: at most one an hour
    # (policy/limits.py, policy/duplicates.py).
    acked_at: datetime | None = None
    duplicate_noticed_at: datetime | None = None


@dataclass(frozen=True)
class AgentAddress:
    """A per-ticket reply address among the envelope recipients, as context.py read it.

    `queue+HS-123456-<tag>@domain` answers the customer, `...-<tag>-comment@domain` is an
    internal note (policy/replyaddress.py). The tag is an HMAC over the ticket, the agent's
    address and the kind, with the installation's key: `made_for` is the team address it
    verifies for (None when it verifies for none), to be compared with the From address.
    """

    number: str
    comment: bool
    ticket: TicketRef | None  # None: no such ticket
    made_for: str | None


@dataclass(frozen=True)
class CommandResult:
    """One `#command` line of an agent's mail and what became of it, for the confirmation."""

    line: str
    applied: bool
    detail: str


@dataclass(frozen=True)
class ReferenceHit:
    """A ticket found through a message header, and how."""

    ticket: TicketRef
    via: str  # "our_message_id" (HMAC verified) or "stored_message_id"
    message_id: str


@dataclass(frozen=True)
class Context:
    already_processed: bool
    header_hit: ReferenceHit | None
    subject_tickets: tuple[TicketRef, ...]
    recent_autoreplies_to_sender: int
    # What each ticket named above already holds, for the per-ticket attachment quota.
    attachment_usage: dict[str, AttachmentUsage] = field(default_factory=dict)
    # The message answers a satisfaction survey we sent (In-Reply-To/References).
    replied_to_survey: bool = False
    # The message was sent to a per-ticket reply address (agents' answers and comments).
    agent_address: AgentAddress | None = None
    # The sender's entry in the customer directory; None: not in it, so free.
    customer: Customer | None = None
    # A mail to the escalation address: the ticket number it names (subject first, then
    # its own text) and that ticket, None when there is no such ticket.
    escalation_named: tuple[str, TicketRef | None] | None = None
    # The directory entry of the requester of the ticket a mail may escalate (or an
    # agent's mail acts on), when the sender is someone else: whose tier caps it.
    requester_customer: Customer | None = None
    # A bounce: the ticket of the message of ours it reports on (policy/bounces.py).
    bounced: BounceMatch | None = None
    # The sender's address is marked undeliverable (a 5.x.x bounce): the mark's detail.
    sender_undeliverable: str | None = None
    # The header-independent limits (policy/limits.py): our automatic answers to the
    # sender in the last day; the mail from the sender that asked for a new ticket within
    # the flood window (counted up to the limit); the sender's open flood ticket, read
    # only when that count reached the limit.
    autoreplies_today_to_sender: int = 0
    openings_by_sender: int = 0
    flood_ticket: TicketRef | None = None
    # The ticket an earlier message with the same sender, subject and own text opened
    # within the duplicate window (policy/duplicates.py).
    same_text_ticket: TicketRef | None = None


@dataclass(frozen=True)
class DmarcTrust:
    """Whose Authentication-Results to believe, and for which From domains to read them.

    A staff From address proves nothing by itself (anyone can write it); a DMARC pass that
    our own MTA recorded does. `domains` are the staff domains whose DMARC pass is read
    (`InboundMail.dmarc_pass_domain`); every other sender is judged from the results of our
    MTA's header (`InboundMail.auth_results`, policy/authenticity.py).
    """

    authserv_id: str = ""  # empty: nothing is trusted
    domains: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PolicySettings:
    domain: str
    queues: dict[str, str]  # local part -> queue
    order: tuple[str, ...]
    default_queue: str
    staff_addresses: frozenset[str]
    staff_domains: frozenset[str]
    autoreply_max_per_hour: int
    sla_hours: dict[Priority, float]
    reopen_days: float
    attachment_limits: AttachmentLimits = field(default_factory=AttachmentLimits)
    # Addresses of an opening mail that become participants (the requester first).
    max_participants: int = 20
    dmarc_trust: DmarcTrust = field(default_factory=DmarcTrust)
    # queue -> addresses notified of its tickets ("default": every other queue).
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The timers a status set by an agent's mail starts (config [lifecycle]).
    remind_days: float = 3.0
    resolved_days: float = 7.0
    # The SLA targets and business calendar ([sla], [business_hours]); None: the default
    # targets with `sla_hours` for first responses (policy/sla.py: sla_of).
    sla: SlaSettings | None = None
    # Escalation (config [escalation], policy/escalation.py): the queue escalated tickets
    # move to (None: they keep theirs), the phrases a reply asks with, the manager assigned.
    escalation_queue: str | None = "escalation"
    escalation_phrases: tuple[str, ...] = ()
    escalation_manager: str | None = None
    # queue -> the managers told of escalations ("default": every other queue).
    managers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The priority rules of a new ticket (config [priority], policy/priorityrules.py).
    priority_rules: tuple[PriorityRule, ...] = ()
    # Header-independent limits (config [autoreply], [flood]; policy/limits.py) and the
    # same issue sent twice ([duplicates]; policy/duplicates.py).
    autoreply_max_per_day: int = 20
    flood_max_new_tickets: int = 20
    flood_window: timedelta = timedelta(minutes=10)
    duplicate_window: timedelta = timedelta(hours=24)
    duplicate_match: str = "subject_and_text"  # or "text", or "off"
    # A customer whose mail held sensitive data is told (config [privacy] notice).
    privacy_notice: bool = True


@dataclass(frozen=True)
class Event:
    type: str
    detail: str


@dataclass(frozen=True)
class NewTicket:
    queue: str
    priority: Priority
    subject: str
    requester: str
    participants: tuple[str, ...]
    related: tuple[str, ...]
    first_response_due: datetime
    # The requester's own closed ticket this one follows (named in the acknowledgement;
    # a stranger's link is never named to them).
    follows: str | None = None
    # The agent of the ticket it follows, who keeps the customer (issue 12, point 8), or
    # the customer's account manager.
    assignee: str | None = None
    # The requester's tier when the ticket opened, and the resolution target's due time.
    tier: Tier = Tier.FREE
    resolution_due: datetime | None = None
    # A premium or enterprise customer's: status updates while no agent writes.
    proactive: bool = False
    # Why the opening mail's From address is not proven (policy/authenticity.py); "" when
    # it is, or when nothing judged it. Agents see the ticket marked `unverified`.
    unverified: str = ""


@dataclass(frozen=True)
class Reply:
    """An automatic answer to render: which template, to whom, from which queue."""

    template: str
    to: str
    queue: str
    auto_submitted: str = "auto-replied"
    cc: tuple[str, ...] = ()  # an agent's answer: the ticket's other participants


@dataclass(frozen=True)
class AttachmentVerdict:
    candidate: Attachment
    accepted: bool
    reason: str  # "accepted", "duplicate_inline" or the refusal (policy/attachments.py)
    words: str  # for the customer, empty when accepted
    mismatch: str | None = None


class TraceLine(NamedTuple):  # a tuple: a dozen are made per message, and cheaply
    """One answer in a decision's trace: which step of policy/decide.py's table (or which
    rule within a step) was asked, whether it fired, and why.

    `kept` lines are what a ticket's events and the worker's log have always shown; the
    misses are there for `maildaemon decide`, which explains a message step by step.
    """

    step: str
    hit: bool
    detail: str
    kept: bool = False

    def __str__(self) -> str:
        return f"{self.step}: {self.detail}"


class EscalationFate(StrEnum):
    ESCALATED = "escalated"
    ALREADY = "already"  # escalated before: nothing changes, the asker is told so
    REFUSED = "refused"  # not the sender's to escalate, or no such ticket


@dataclass(frozen=True)
class Escalation:
    """One ticket's escalation as policy/escalation.py decided it: who asked and why, and
    (when `fate` is ESCALATED) what changes. The store writes it; the confirmation and
    the managers' notice are rendered from it."""

    number: str  # the ticket named (for a refusal: as the sender wrote it)
    fate: EscalationFate
    by: str  # an address, "an agent", "the sweep"
    reason: str  # the asker's own words (bounded) or the agent's note
    priority: Priority | None = None  # after the escalation (ALREADY: as it is)
    old_priority: Priority | None = None
    queue: str | None = None  # the queue it is in afterwards
    old_queue: str | None = None
    assignee: str | None = None  # the escalation manager; None: the assignee stays
    first_response_due: datetime | None = None  # recomputed for the new priority
    resolution_due: datetime | None = None  # likewise (policy/sla.py), from the escalation
    tier: Tier = Tier.FREE  # whose targets: the response target in the confirmation
    account_manager: str | None = None  # the customer's, told of it
    reopened: bool = False  # it was waiting, resolved or closed, and is open again


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    ticket: TicketRef | None = None
    new_ticket: NewTicket | None = None
    new_status: Status | None = None
    reply: Reply | None = None
    automated_reason: str | None = None
    events: tuple[Event, ...] = ()
    trace_lines: tuple[TraceLine, ...] = ()  # every step asked, hit or miss, in order
    attachments: tuple[AttachmentVerdict, ...] = ()
    more_mail: tuple[Reply, ...] = ()  # besides `reply`: a survey when the ticket closes
    rating: tuple[int, str] | None = None
    # An agent's mail (AGENT_ANSWER, AGENT_COMMENT) or a proven staff answer in a thread
    # (FOLLOWUP): who, what the customer receives (their own words, without quoted lines
    # or command lines; empty: nothing is relayed), the internal note, and each command
    # line's fate; the changes they make are `new_status` and these.
    agent: str | None = None
    agent_text: str = ""
    note: str = ""
    commands: tuple[CommandResult, ...] = ()
    new_priority: Priority | None = None
    assignee: str | None = None
    # What the ticket's team is told of (notifications.py): "new_ticket", "customer_reply",
    # "reopened", "escalated", "refused_tag"; empty for automatic mail, always.
    notify: tuple[str, ...] = ()
    # When the timer of `new_status` falls due (an agent's #status waiting or resolved).
    due_at: datetime | None = None
    # The ticket stops waiting on the customer: its resolution due time, moved later by
    # the time waited (policy/slaclock.py); None when it does not move.
    resolution_due: datetime | None = None
    # The ticket's escalation, asked for by this mail (or refused: ESCALATION_REFUSED).
    escalation: Escalation | None = None
    # Bug-report fields read from the customer's own text (policy/bugreport.py): a new
    # ticket's whole report, or what a follow-up adds to the one its ticket has.
    bug_report: BugReport | None = None
    # A bounce of our mail (policy/bounces.py): the addresses it marks undeliverable
    # (permanent failures, 5.x.x), and the sender whose own mail clears such a mark.
    undeliverable: tuple[FailedRecipient, ...] = ()
    deliverable_again: str = ""
    # The message asked for a new ticket: counted toward its sender's flood limit, and
    # (when it opens one) remembered by its text for the duplicate window.
    opening: Opening | None = None

    @property
    def trace(self) -> tuple[str, ...]:
        """The kept lines as "step: detail": stored as ticket events, logged by the worker."""
        return tuple(str(line) for line in self.trace_lines if line.kept)

    @property
    def refused_words(self) -> tuple[str, ...]:
        return tuple(v.words for v in self.attachments if not v.accepted)


@dataclass(frozen=True)
class OutgoingMail:
    """A rendered message ready for the outbox; `raw` is exactly what will be sent.

    `rcpt_to` is the primary recipient (the To header); `cc` are the other envelope
    recipients of the same message (the Cc header), delivered in the same relay
    transaction: one message to a ticket's people, never one copy per person."""

    kind: str
    message_id: str
    mail_from: str
    rcpt_to: str
    subject: str
    text: str
    raw: bytes
    cc: tuple[str, ...] = ()


@dataclass(frozen=True)
class PriorityRule:
    """One line of the `[priority]` configuration: a phrase that makes a new ticket
    `level` when the customer writes it (policy/priorityrules.py). `subject_only`: written
    "subject:..." in the configuration, matched in the subject alone (`[Feature Request]`)."""

    level: Priority
    phrase: str
    subject_only: bool = False


@dataclass(frozen=True)
class BugReport:
    """The support page's bug report fields found in a customer's own text
    (policy/bugreport.py); "" where the text does not give one."""

    steps: str = ""
    browser: str = ""
    device: str = ""
    os: str = ""
    app_version: str = ""


class AuthResult(NamedTuple):
    """One method's result in our MTA's Authentication-Results header (authresults.py).

    `domain` is the identity the result is about, lower-cased: `header.from` for DMARC,
    the signing domain (`header.d`, else `header.i` after its "@") for DKIM, the envelope
    sender's domain (`smtp.mailfrom`) for SPF; "" when the result names none."""

    method: str
    result: str
    domain: str


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient a delivery report says our mail did not reach (reports.py)."""

    address: str  # Final-Recipient, lower-cased
    status: str  # the enhanced status code, "5.1.1"; "5.0.0"/"4.0.0" when only the class
    original: str = ""  # Original-Recipient, when the report gives one
    diagnostic: str = ""  # the remote server's words, one line, bounded

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5")


@dataclass(frozen=True)
class DeliveryReport:
    """A machine report found in a message: `kind` is "delivery-status" (RFC 3464),
    "feedback-report" (ARF, RFC 5965), "disposition-notification" (a read receipt, RFC
    8098) or "bounce" (a failure notice in no standard format). `returned_ids`: the
    Message-IDs of the message it reports on, from the headers it returns."""

    kind: str
    failures: tuple[FailedRecipient, ...] = ()
    returned_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class BounceMatch:
    """The ticket a bounce reports on, and how it was found: "returned_headers" (our
    Message-ID, HMAC-verified, in the headers the report returns) or "outbox_recipient"
    (the failed address is the recipient of our latest mail, the headers missing)."""

    ticket: TicketRef
    via: str
    detail: str = ""


@dataclass(frozen=True)
class Opening:
    """A message that asked for a new ticket (policy/limits.py), as the store remembers it:
    for the sender's flood count until `until`; when it opened a ticket, under its
    duplicate key (policy/duplicates.py) until `text_until`; `flood`: the ticket it opened
    is the sender's flood ticket, which their further mail joins."""

    sender: str
    until: datetime
    text_key: str | None = None
    text_until: datetime | None = None
    flood: bool = False
