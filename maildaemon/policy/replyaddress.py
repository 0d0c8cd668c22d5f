"""Per-ticket reply addresses: how an agent's mail proves who wrote it (invariant 7).

Each team notification carries `Reply-To: support+HS-123456-<tag>@domain`, and names a
second address, `support+HS-123456-<tag>-comment@domain`, for internal notes. The tag is
an HMAC-SHA256 over the ticket number, the agent's address and the kind, keyed with the
installation's secret (the one our Message-IDs use), cut to 16 base32 letters (80 bits):
nobody without the key can make a tag, and a tag made for one agent does not verify for
another, nor an answer's tag for a comment. Pure: the key is an argument.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

TAG_LETTERS = 16
COMMENT = "comment"
TAGGED = re.compile(r"^(?P<local>[^+@]+)\+(?P<number>HS-\d{6,8})-(?P<tag>[a-z2-7]{16})"
                    r"(?P<comment>-comment)?$", re.IGNORECASE)


@dataclass(frozen=True)
class TaggedAddress:
    """A reply address as read from an envelope recipient, not yet verified."""

    local: str  # the queue's local part
    number: str
    tag: str
    comment: bool


def tag_for(secret: bytes, number: str, agent: str, comment: bool = False) -> str:
    kind = COMMENT if comment else "answer"
    message = f"reply-address\0{number.upper()}\0{agent.strip().lower()}\0{kind}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:TAG_LETTERS].lower()


def reply_address(secret: bytes, local: str, domain: str, number: str, agent: str,
                  comment: bool = False) -> str:
    """The address an agent answers (or, with `comment`, comments on) a ticket at."""
    suffix = "-comment" if comment else ""
    return f"{local}+{number}-{tag_for(secret, number, agent, comment)}{suffix}@{domain}"


def read_reply_address(address: str, domain: str) -> TaggedAddress | None:
    """The parts of a reply address of ours, or None for any other address."""
    local, at, rcpt_domain = address.strip().strip("<>").rpartition("@")
    if not at or rcpt_domain.lower() != domain.lower():
        return None
    found = TAGGED.match(local)
    if found is None:
        return None
    return TaggedAddress(found["local"].lower(), found["number"].upper(),
                         found["tag"].lower(), bool(found["comment"]))


def made_for(secret: bytes, tagged: TaggedAddress, candidates: tuple[str, ...]) -> str | None:
    """Which of `candidates` (the ticket's team) the tag was made for, if any."""
    for agent in candidates:
        if hmac.compare_digest(tag_for(secret, tagged.number, agent, tagged.comment),
                               tagged.tag):
            return agent.lower()
    return None
