"""Sensitive data masked out of a received message before anything keeps it.

parse.py asks `suspect` about every message: policy/sensitive.py's rules over its text
fields and text parts (the parts it decoded itself are handed over, not decoded again),
which cost a few C-speed scans of a text with nothing to mask. Only a message in which
they find something is rewritten (`masked`, rewrite.py), parsed again from the masked
copy and checked, and everything downstream (the stored text, the own text, the
subject, the files, the raw bytes `maildaemon raw` returns, every mail we send, the log,
`decide`) sees that copy only: the received bytes live on only in the spool, until the
message is processed (spool.py scrubs them then).

Text is every text/* part, JSON, XML or CSV, the Subject and its Outlook copy
Thread-Topic, Comments and Keywords (also of attached messages), and every file libmagic
finds to be text whatever its declared type (a `.log` sent as application/octet-stream).
Binary files (PDF, images, Office documents, archives, winmail.dat) are not read; their
names are (the `name=` and `filename=` of their fields). An HTML part is masked in its
markup; one whose number the markup splits (`4111 <b>1111</b> ...`) is replaced by its
text, masked, in a `<pre>`.

What was found and where, never the values, is `InboundMail.removed`; the copy is
`kept_raw`. If anything can still be found in the copy, or the copy cannot be made, the
worker holds the message in the spool with that reason (`removed.complete` is False)
rather than keep it half masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from email.message import Message

from maildaemon.domain import InboundMail, Removed
from maildaemon.policy.sensitive import mask
from maildaemon.rewrite import rewrite
from maildaemon.textparts import (
    TEXT,
    TEXT_HEADERS,
    header_texts,
    is_text,
    kind_of,
    leaves,
    masked_part,
    part_text,
)
from maildaemon.textparts import file_texts as file_texts

__all__ = ["TEXT_HEADERS", "file_texts", "holds", "masked", "suspect"]


def holds(text: str, kinds: frozenset[str]) -> bool:
    return bool(mask(text, kinds).kinds)


def suspect(msg: Message, kinds: frozenset[str], known: dict[int, str],
            fields: tuple[str, ...]) -> bool:
    """Is there anything to mask in the text fields and text parts? `known`: the parts
    parse.py decoded already (by id), so the common message decodes nothing twice;
    `fields`: the message's own text fields, decoded."""
    if any(holds(text, kinds) for text in fields):
        return True
    if id(msg) in known:  # a message of one text part, read already
        return bool(mask(known[id(msg)], kinds, html=kind_of(msg) == "text/html").kinds)
    attached: list[Message] = []
    for leaf in leaves(msg, None, attached=attached):
        if not leaf.read:
            continue
        text = known.get(id(leaf.part))
        if text is None:
            decoded = part_text(leaf.part)
            text = decoded[0] if decoded else ""
        if mask(text, kinds, html=leaf.kind == "text/html").kinds:
            return True
    return any(holds(text, kinds) for text in header_texts(attached))


def text_files(mail: InboundMail) -> dict[str, bool]:
    """sha256 -> whether libmagic found the file to be text, whatever it was declared as."""
    return {a.sha256: is_text(a.detected_type) for a in mail.attachments if a.sha256}


def found_in(msg: Message, kinds: frozenset[str], files: dict[str, bool],
             to_text: Callable[[str], str], shown: tuple[str, ...] = ()) -> frozenset[str]:
    """Every kind still found in the message's text fields and text parts and the `shown`
    texts (what parse.py made of them: the text agents read, the own text)."""
    found: set[str] = set()
    attached: list[Message] = [msg]
    for leaf in leaves(msg, files, attached=attached):
        decoded = part_text(leaf.part) if leaf.read else None
        if decoded is not None:
            found |= masked_part(decoded[0], leaf.kind, kinds, to_text).kinds
    for text in (*header_texts(attached), *shown):
        found |= mask(text, kinds).kinds
    return frozenset(found)


def masked(raw: bytes, mail: InboundMail, kinds: frozenset[str],
           reparse: Callable[[bytes], InboundMail]) -> InboundMail:
    """The message as we keep it: rewritten, parsed again (`reparse`), and checked."""
    from maildaemon.parse import html_to_text, read_message  # parse.py imports this module

    try:
        base, msg = read_message(raw)
        done = rewrite(base, msg, kinds, text_files(mail), html_to_text)
        if done is None:
            return mail
        kept, removed = done
        again = reparse(kept)
        shown = (again.subject, again.text, again.own_text, *file_texts(again))
        left = found_in(read_message(kept)[1], kinds, text_files(again), html_to_text, shown)
    except Exception:  # a structure the rewrite cannot take: held, never kept as it is
        return replace(mail, removed=Removed(kinds=(), places=(), complete=False))
    own = any(place != TEXT for place in removed.places) or \
        holds(mail.subject, kinds) or holds(mail.own_text, kinds)
    return replace(again, kept_raw=kept,
                   removed=replace(removed, own_words=own, complete=not left))
