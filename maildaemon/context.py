"""What `decide()` needs to know of the database about one message, loaded in one place.

The worker loads it twice per message (once to decide and render outside the write lock,
once inside to check that nothing changed); `maildaemon decide` loads it from a read-only
database. Both call this class, so what the operator sees is what the worker would do.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from maildaemon.domain import (
    AgentAddress,
    BounceMatch,
    Context,
    Customer,
    InboundMail,
    PolicySettings,
    ReferenceHit,
    Status,
    TicketRef,
)
from maildaemon.policy.bounces import BOUNCE_WINDOW, MAX_LOOKUPS
from maildaemon.policy.duplicates import duplicate_key
from maildaemon.policy.escalation import asks_for_escalation, number_named
from maildaemon.policy.followup import (
    is_participant,
    ticket_of_our_message_id,
    tokens_in_subject,
)
from maildaemon.policy.replyaddress import made_for, read_reply_address
from maildaemon.store.interface import ContextReads


def read_secret(data_dir: Path) -> bytes:
    """The installation's HMAC key if it exists, else a random one, creating nothing.

    Without a key no Message-ID of ours can verify, exactly as with the fresh key a worker
    would make: a random one answers the same.
    """
    key = data_dir / "secret.key"
    return bytes.fromhex(key.read_text().strip()) if key.is_file() \
        else secrets.token_bytes(32)


class ContextLoader:
    """Loads the `Context` of a message: duplicates, the ticket it names, rate and quota,
    the sender's entry in the customer directory."""

    def __init__(self, store: ContextReads, settings: PolicySettings, secret: bytes) -> None:
        self.store = store
        self.settings = settings
        self.secret = secret

    def load(self, mail: InboundMail, now: datetime) -> Context:
        header_hit = self.header_hit(mail)
        subject_tickets = tuple(
            ref for ref in (self.store.ticket_ref(n) for n in tokens_in_subject(mail.subject))
            if ref is not None
        )
        agent_address = self.agent_address(mail)
        escalation = self.escalation_named(mail, subject_tickets)
        named = [t.number for t in subject_tickets] + ([header_hit.ticket.number]
                                                        if header_hit else [])
        if agent_address is not None and agent_address.ticket is not None:
            named.append(agent_address.ticket.number)  # the agent's files count on its quota
        if escalation is not None and escalation[1] is not None:
            named.append(escalation[0])
        hour, day = self.store.reply_counts(mail.from_addr, now) if mail.from_addr \
            else (0, 0)
        limits = self.limits(mail, header_hit, now)
        named += [t.number for t in limits.values() if isinstance(t, TicketRef)]
        return Context(
            already_processed=self.store.received_before(
                mail.message_id, mail.dedup_key, now - self.settings.duplicate_window),
            header_hit=header_hit,
            subject_tickets=subject_tickets,
            recent_autoreplies_to_sender=hour,
            autoreplies_today_to_sender=day,
            **limits,
            attachment_usage={n: self.store.attachment_usage(n) for n in named}
            if mail.attachments else {},
            replied_to_survey=self.store.is_survey((*mail.in_reply_to, *mail.references)),
            agent_address=agent_address,
            customer=self.store.customer(mail.from_addr) if mail.from_addr else None,
            escalation_named=escalation,
            requester_customer=self.requester_customer(mail, agent_address, escalation,
                                                       header_hit, subject_tickets),
            bounced=self.bounced(mail, now),
            sender_undeliverable=self.store.undeliverable(mail.from_addr)
            if mail.from_addr else None,
        )

    def bounced(self, mail: InboundMail, now: datetime) -> BounceMatch | None:
        """The ticket of the mail of ours a bounce reports on: by our Message-ID in the
        headers it returns (HMAC-verified), else by a failed address and our outbox (our
        latest mail to it in the last BOUNCE_WINDOW). None for any other mail."""
        report = mail.report
        if report is None or not report.failures:
            return None
        for message_id in report.returned_ids:  # bounded: reports.py keeps 10
            number = ticket_of_our_message_id(message_id, self.secret, self.settings.domain)
            ref = self.store.ticket_ref(number) if number else None
            if ref is not None:
                return BounceMatch(ref, "returned_headers", message_id)
        for failure in report.failures[:MAX_LOOKUPS]:
            for address in dict.fromkeys((failure.original, failure.address)):
                ref = self.store.ticket_mailed_to(address, now - BOUNCE_WINDOW) \
                    if address else None
                if ref is not None:
                    return BounceMatch(ref, "outbox_recipient", address)
        return None
    def limits(self, mail: InboundMail, header_hit: ReferenceHit | None, now: datetime
               ) -> dict[str, Any]:
        """What the flood limit and the duplicate rule read (policy/limits.py,
        policy/duplicates.py): only for a message that may open a ticket. A participant's
        reply through the headers of a ticket that is not closed never does, and costs
        nothing here."""
        sender = mail.from_addr.lower()
        joined = header_hit.ticket if header_hit else None
        if not sender or (joined is not None and joined.status != Status.CLOSED
                          and is_participant(sender, joined, False)):
            return {}
        found: dict[str, Any] = {}
        limit = self.settings.flood_max_new_tickets
        if limit > 0:
            found["openings_by_sender"] = self.store.openings(sender, now, limit)
            if found["openings_by_sender"] >= limit:
                found["flood_ticket"] = self.store.flood_ticket(sender)
        key = duplicate_key(mail, self.settings.duplicate_match)
        if key is not None:
            found["same_text_ticket"] = self.store.same_text_ticket(key, now)
        return found

    def escalation_named(self, mail: InboundMail, subject_tickets: tuple[TicketRef, ...]
                         ) -> tuple[str, TicketRef | None] | None:
        """A mail to the escalation address: the number it names and its ticket."""
        number = number_named(mail, self.settings)
        if number is None:
            return None
        known = next((t for t in subject_tickets if t.number == number), None)
        return number, known or self.store.ticket_ref(number)

    def requester_customer(self, mail: InboundMail, agent_address: AgentAddress | None,
                           escalation: tuple[str, TicketRef | None] | None,
                           header_hit: ReferenceHit | None,
                           subject_tickets: tuple[TicketRef, ...]) -> Customer | None:
        """The directory entry of the ticket's customer when someone else writes and the
        mail may escalate it: an agent's mail, a mail to the escalation address, a reply
        with an escalation phrase. One more lookup on those only; none when the requester
        writes (their entry is `customer`)."""
        ticket = agent_address.ticket if agent_address else None
        if ticket is None and escalation is not None:
            ticket = escalation[1]
        if ticket is None:
            joined = header_hit.ticket if header_hit else \
                (subject_tickets[0] if subject_tickets else None)
            if joined is not None and joined.requester.lower() != mail.from_addr.lower() \
                    and asks_for_escalation(mail.own_text, self.settings.escalation_phrases):
                ticket = joined
        if ticket is None or ticket.requester.lower() == mail.from_addr.lower():
            return None
        return self.store.customer(ticket.requester)

    def agent_address(self, mail: InboundMail) -> AgentAddress | None:
        """The first envelope recipient that is a ticket's reply address, its ticket and
        the team address its tag verifies for (checked against the ticket's queue's team).
        Only a recipient with "+HS-" is read, so other mail costs a substring test."""
        for rcpt in mail.envelope_rcpts:  # bounded: the envelope's recipients
            if "+hs-" not in rcpt.lower():
                continue
            tagged = read_reply_address(rcpt, self.settings.domain)
            if tagged is None:
                continue
            ref = self.store.ticket_ref(tagged.number)
            queue = ref.queue if ref else self.settings.queues.get(tagged.local, "")
            return AgentAddress(tagged.number, tagged.comment, ref,
                                made_for(self.secret, tagged, self.answering(queue, ref))
                                if ref else None)
        return None

    def answering(self, queue: str, ticket: TicketRef) -> tuple[str, ...]:
        """Whose reply-address tags verify on a ticket: the addresses its notifications
        go to (notifications.py). The queue's team; on an escalated ticket also every
        team (the one it left among them), the queue's managers and the customer's
        account manager. A tag still proves the one address it was made for."""
        teams, managers = self.settings.teams, self.settings.managers
        team = teams.get(queue) or teams.get("default", ())
        if not ticket.escalated:
            return team
        entry = self.store.customer(ticket.requester)
        manager = (entry.account_manager,) if entry and entry.account_manager else ()
        everyone = (a for addresses in teams.values() for a in addresses)
        return tuple(dict.fromkeys((*team, *everyone,
                                    *(managers.get(queue) or managers.get("default", ())),
                                    *manager)))

    def header_hit(self, mail: InboundMail) -> ReferenceHit | None:
        """In-Reply-To first, then References from the newest back to the thread's root."""
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
