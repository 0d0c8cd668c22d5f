"""Which ticket a message follows up, and whether its sender may add to it.

Threading evidence, strongest first: a header reference to a Message-ID we sent (it embeds the
ticket number and an HMAC keyed by the installation's secret, so it cannot be forged), or to a
message stored on a ticket; then a `HS-dddddd` token anywhere in the decoded subject. Tokens
in the body (quoted text) are never evidence. Evidence only lets a *participant* in.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from maildaemon.domain import PolicySettings, TicketRef
from maildaemon.policy.addresses import shorten

# Six digits; seven and eight once half a million tickets exist (see Store._fresh_number).
TOKEN = re.compile(r"(?<![A-Za-z0-9])HS-(\d{6,8})(?!\d)", re.IGNORECASE)
OWN_TOKEN = re.compile(r"\s*[\[(]?\s*HS-(\d{6,8})(?!\d)\s*[\])]?\s*", re.IGNORECASE)

# Reply and forward prefixes seen in the wild (Outlook, Thunderbird, Apple Mail, Gmail in many
# languages), optionally counted ("Re[3]:", "Re(2):", "RE^2:").
PREFIX = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|antwort|ref|réf|rif|odp|vá|ynt|wg|tr|fwd?|rv|enc|doorst|"
    r"回复|回覆|答复|転送|返信|转发|回信|ответ|відповідь)"
    r"\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*",
    re.IGNORECASE,
)

MAC_LENGTH = 20
SUBJECT_ECHO = 200  # characters of a customer's subject that our mail repeats


def tokens_in_subject(subject: str) -> list[str]:
    """Every ticket number in the subject, in order, without repeats ("HS-123456")."""
    seen: list[str] = []
    for match in TOKEN.finditer(subject):
        number = "HS-" + match.group(1)
        if number not in seen:
            seen.append(number)
    return seen


def strip_reply_prefixes(subject: str) -> str:
    previous = None
    while previous != subject:
        previous = subject
        subject = PREFIX.sub("", subject, count=1)
    return subject.strip()


def outbound_subject(number: str, subject: str) -> str:
    """`[HS-123456] text`: our token first and exactly once, whatever the customer wrote,
    and at most `SUBJECT_ECHO` characters of that: a sender's 3 MB subject must not come
    back as a 3 MB mail (to them, or to whoever they put in From)."""
    def drop_own(match: re.Match[str]) -> str:
        return " " if match.group(1) == number[3:] else match.group(0)

    rest = echoed_subject(OWN_TOKEN.sub(drop_own, subject[:SUBJECT_ECHO * 10]))
    return f"[{number}] {rest}" if rest else f"[{number}]"


def echoed_subject(subject: str) -> str:
    """What our mail repeats of a sender's subject: one line, at most SUBJECT_ECHO
    characters (only the start of a huge subject is even looked at)."""
    return shorten(" ".join(subject[:SUBJECT_ECHO * 10].split()), SUBJECT_ECHO)


def message_id_mac(secret: bytes, number: str, nonce: str) -> str:
    digest = hmac.new(secret, f"{number}.{nonce}".encode(), hashlib.sha256).hexdigest()
    return digest[:MAC_LENGTH]


def make_message_id(secret: bytes, number: str, nonce: str, domain: str) -> str:
    return f"<{number}.{nonce}.{message_id_mac(secret, number, nonce)}@{domain}>"


OUR_ID = re.compile(r"^<?(HS-\d{6,8})\.([A-Za-z0-9]+)\.([0-9a-f]+)@([^>]+)>?$")


def ticket_of_our_message_id(message_id: str, secret: bytes, domain: str) -> str | None:
    """The ticket number a Message-ID of ours names, if its HMAC is genuine."""
    match = OUR_ID.match(message_id.strip())
    if not match or match.group(4).lower() != domain.lower():
        return None
    number, nonce, mac = match.group(1), match.group(2), match.group(3)
    if hmac.compare_digest(mac, message_id_mac(secret, number, nonce)):
        return number
    return None


def is_staff(address: str, settings: PolicySettings) -> bool:
    """A staff address, written by anyone: see `finding.proven_staff` for who may act as one."""
    address = address.lower()
    return address in settings.staff_addresses or (
        address.rpartition("@")[2] in settings.staff_domains
    )


def is_participant(address: str, ticket: TicketRef, proven_staff: bool) -> bool:
    """`proven_staff`: the sender is staff AND proved it (finding.proven_staff), so may
    follow up any ticket; a staff address alone proves nothing."""
    return proven_staff or address.lower() in ticket.participants
