"""The first steps of decide()'s table: what the message is, and which ticket it joins.

None of them decides but `duplicate`; they leave facts (`Found`) for the steps after them.
"""

from __future__ import annotations

from maildaemon.domain import Decision, InboundMail, Outcome, PolicySettings, TraceLine
from maildaemon.policy.followup import is_participant, is_staff
from maildaemon.policy.loops import classify
from maildaemon.policy.steps import Case, Verdict, hit, miss, note

# The misses that say the same every time, made once (a decision asks a dozen steps).
NOT_SEEN_BEFORE = miss("its Message-ID and content were not received before")
NOT_AUTOMATED = miss("no sign of automatic mail (RFC 3834 headers, robot sender, report)")
NO_KNOWN_REFERENCE = miss("In-Reply-To and References name no message of ours or stored")
NO_SUBJECT_TOKEN = miss("the subject names no ticket of ours")


def duplicate(case: Case) -> Verdict:
    if case.ctx.already_processed:
        return hit("message already processed", Decision(Outcome.DUPLICATE))
    return NOT_SEEN_BEFORE


def automated(case: Case) -> Verdict:
    verdict = classify(case.mail, case.settings)
    if verdict is None:
        return NOT_AUTOMATED
    return hit(f"{verdict.kind} ({verdict.reason})",
               found=case.found._replace(automated=verdict.reason, auto_kind=verdict.kind))


def staff_verified(case: Case) -> Verdict:
    notes: list[TraceLine] = []
    if proven_staff(case.mail, case.settings, notes):
        return hit(notes[0].detail, found=case.found._replace(staff=True))
    if not notes:
        return miss(f"{case.mail.from_addr or '<>'} is not a staff address")
    return miss("a staff address without proof", notes=tuple(notes))


def proven_staff(mail: InboundMail, settings: PolicySettings, notes: list[TraceLine]) -> bool:
    """A staff From address counts only with a DMARC pass for its own domain that our MTA
    recorded (parse.py, authresults.py): anyone can write `From: it-desk@our-domain`, and a
    staff member's mail is relayed to customers as ours. Until agents get per-ticket reply
    addresses, an unproven one is treated as any stranger."""
    if not is_staff(mail.from_addr, settings):
        return False
    domain = mail.from_addr.rpartition("@")[2].lower()
    if domain and mail.dmarc_pass_domain == domain:
        notes.append(note("staff_verified", f"DMARC pass for {domain}"))
        return True
    notes.append(note("staff_unverified", f"{mail.from_addr} has no DMARC pass from our MTA, "
                                          "treated as a stranger"))
    return False


def header_thread(case: Case) -> Verdict:
    """In-Reply-To/References name our message (HMAC-verified) or one we stored. Automatic
    mail (a bounce) may join through our own Message-ID whoever sends it."""
    found, mail, ref = case.found, case.mail, case.ctx.header_hit
    if ref is None:
        return NO_KNOWN_REFERENCE
    takes_part = is_participant(mail.from_addr, ref.ticket, found.staff)
    if (takes_part and found.unverified is None) or (
        found.automated is not None and ref.via == "our_message_id"
    ):
        return hit(f"{ref.via} {ref.message_id} -> {ref.ticket.number}",
                   found=found._replace(ticket=ref.ticket))
    refusal = refused_note(case, takes_part, f"via header of {ref.ticket.number}")
    return miss(f"{ref.ticket.number} is not the sender's to join",
                found=found._replace(refused=ref.ticket), notes=(refusal,))


def refused_note(case: Case, takes_part: bool, how: str) -> TraceLine:
    """Why a mail may not join a ticket it named (`how`): a stranger's, or an unverified
    mail from one of its people (policy/authenticity.py)."""
    sender, why = case.mail.from_addr, case.found.unverified
    if takes_part and why is not None:
        return note("unverified_not_joined", f"{sender} {how}: {why}")
    return note("sender_not_participant", f"{sender} {how}")


def token_from_subject(case: Case) -> Verdict:
    """An HS-dddddd token in the decoded subject, of a ticket the sender takes part in."""
    found, mail = case.found, case.mail
    if found.ticket is not None:
        return miss(f"already joins {found.ticket.number} by its headers")
    if not case.ctx.subject_tickets:
        return NO_SUBJECT_TOKEN
    refusals: list[TraceLine] = []
    refused = found.refused
    for candidate in case.ctx.subject_tickets:  # bounded: the subject's tokens
        takes_part = is_participant(mail.from_addr, candidate, found.staff)
        if takes_part and found.unverified is None:
            return hit(candidate.number, found=found._replace(ticket=candidate, refused=None),
                       notes=tuple(refusals))
        refusals.append(refused_note(case, takes_part,
                                     f"named {candidate.number} in the subject"))
        refused = refused or candidate
    return miss("no ticket named in the subject is the sender's to join",
                found=found._replace(refused=refused), notes=tuple(refusals))
