"""Which attachments a ticket takes: type by content, and a quota per TICKET.

The limits hold across all messages of a ticket: at most `max_files` customer files, each at
most `max_file_bytes`, all stored bytes together at most `max_ticket_bytes`. Inline images
the HTML shows (signature logos) are not customer files: they do not count toward the
files, an identical one is stored once, but their bytes count toward the total.

Rules, first match wins, for each attachment in message order:
    type_not_allowed   the content's type (libmagic's, never the sender's) is not allowed
    duplicate_inline   an inline image identical to one already stored: taken, free
    file_too_large     over the per-file limit
    too_many_files     the ticket already has its maximum of files
    ticket_full        the ticket's stored bytes would exceed its total
The refused are not stored; the message itself always is. `words` is what the customer
reads, in plain words; `mismatch` records a declared type or extension the content denies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from maildaemon.domain import (
    DEFAULT_ALLOWED,
    MIB,
    Attachment,
    AttachmentLimits,
    AttachmentUsage,
    AttachmentVerdict,
)

__all__ = ["DEFAULT_ALLOWED", "MIB"]

# Extensions a sender may use for each detected type; any other extension is a mismatch.
EXTENSIONS = {
    "image/png": {"png"}, "image/jpeg": {"jpg", "jpeg", "jpe"}, "image/gif": {"gif"},
    "image/webp": {"webp"}, "video/mp4": {"mp4", "m4v"}, "video/quicktime": {"mov", "qt"},
    "text/plain": {"txt", "log", "csv", "text", "md", "json", "xml"},
    "text/csv": {"csv"}, "application/json": {"json"}, "application/pdf": {"pdf"},
    "message/rfc822": {"eml", "msg"},
}


Limits = AttachmentLimits
Usage = AttachmentUsage
# What the policy judges: the file's metadata (its bytes are never looked at here).
Candidate = Attachment


Verdict = AttachmentVerdict


GENERIC_TYPES = {"", "application/octet-stream", "application/x-unknown", "binary/octet-stream"}
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "text/x-log": "text/plain",
           "text/csv": "text/plain", "application/x-pdf": "application/pdf"}
TYPES_OF_EXTENSION: dict[str, set[str]] = {}
for _kind, _extensions in EXTENSIONS.items():
    for _extension in _extensions:
        TYPES_OF_EXTENSION.setdefault(_extension, set()).add(_kind)


def megabytes(size: int) -> str:
    value = size / MIB
    return f"{value:.0f} MB" if round(value, 1).is_integer() else f"{value:.1f} MB"


def mismatch_of(candidate: Candidate) -> str | None:
    """A declared type or an extension that the content contradicts, in words."""
    declared = candidate.declared_type.lower()
    detected = candidate.detected_type
    notes = []
    if declared not in GENERIC_TYPES and ALIASES.get(declared, declared) != \
            ALIASES.get(detected, detected):
        notes.append(f"declared {declared}")
    extension = candidate.filename.rpartition(".")[2].lower() if "." in candidate.filename \
        else ""
    claimed = TYPES_OF_EXTENSION.get(extension)
    if claimed is not None and detected not in claimed:
        notes.append(f"named .{extension}")
    if not notes:
        return None
    return f"{' and '.join(notes)}, but the content is {detected}"


def judge(candidates: Sequence[Candidate], usage: Usage, limits: Limits) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for candidate in candidates:
        verdict = _judge_one(candidate, usage, limits)
        if verdict.accepted and verdict.reason == "accepted":
            usage = replace(
                usage,
                files=usage.files + (0 if candidate.inline else 1),
                bytes=usage.bytes + candidate.size,
                inline_hashes=usage.inline_hashes | ({candidate.sha256} if candidate.inline
                                                     else frozenset()),
            )
        verdicts.append(replace(verdict, mismatch=mismatch_of(candidate)))
    return verdicts


def _judge_one(candidate: Candidate, usage: Usage, limits: Limits) -> Verdict:
    name = candidate.filename
    if candidate.detected_type not in limits.allowed_types:
        return Verdict(candidate, False, "type_not_allowed",
                       f"{name}: this file type is not accepted")
    if candidate.inline and candidate.sha256 in usage.inline_hashes:
        return Verdict(candidate, True, "duplicate_inline", "")
    if candidate.size > limits.max_file_bytes:
        return Verdict(candidate, False, "file_too_large",
                       f"{name}: {megabytes(candidate.size)} is over the "
                       f"{megabytes(limits.max_file_bytes)} limit per file")
    if not candidate.inline and usage.files >= limits.max_files:
        return Verdict(candidate, False, "too_many_files",
                       f"{name}: this ticket already has {limits.max_files} files")
    if usage.bytes + candidate.size > limits.max_ticket_bytes:
        return Verdict(candidate, False, "ticket_full",
                       f"{name}: the files on this ticket would exceed "
                       f"{megabytes(limits.max_ticket_bytes)}")
    return Verdict(candidate, True, "accepted", "")
