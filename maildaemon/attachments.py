"""Attachments of a received message: found, typed by their content, named safely.

What counts as a customer file: every leaf part that is not the message's own text body,
not a signature (S/MIME, PGP), and not a container. An attached email (message/rfc822) is
one file. A winmail.dat (TNEF) is opened with tnefparse and each file inside is judged on
its own; one that cannot be read stays a TNEF file, which is refused by type. Zip files are
never unpacked: for a zip we only read the names in its directory, to tell an Office
document (which libmagic may call a zip) from an archive.

The type is libmagic's verdict on the bytes, never the sender's filename or Content-Type.
The sender's filename is kept as data only, cleaned for display: no directories, no control
or bidirectional-override characters.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import re
import unicodedata
import zipfile
from email.message import Message
from email.policy import Compat32

import magic

from maildaemon.domain import Attachment
from maildaemon.headers import decode_words

SIGNATURE_TYPES = {"application/pkcs7-signature", "application/x-pkcs7-signature",
                   "application/pgp-signature", "application/pgp-keys"}
TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
MAGIC_BYTES = 1 << 18  # libmagic reads at most this much: MP4 boxes, PDF headers, ...


class _Verbatim(Compat32):
    """Writes an attached email's headers back as they arrived. The stdlib refolds every
    header through email.header.Header, which was a third of all parsing time on real mail
    and changed the bytes the customer sent."""

    def fold_binary(self, name: str, value: object) -> bytes:
        if isinstance(value, str):
            return f"{name}: {value}{self.linesep}".encode("utf-8", "surrogateescape")
        return super().fold_binary(name, value)  # type: ignore[arg-type]


VERBATIM = _Verbatim(linesep="\r\n")
OFFICE_MEMBERS = (
    ("word/document.xml",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("ppt/presentation.xml",
     "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)
BIDI_AND_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
CID = re.compile(r"cid:([^\"'\s>)]+)", re.IGNORECASE)


Found = Attachment


def clean_filename(name: str, fallback: str) -> str:
    """The sender's filename, safe to show and never a path."""
    name = decode_words(name) if name else ""
    name = name.replace("\\", "/").rpartition("/")[2]
    name = BIDI_AND_INVISIBLE.sub("", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split()).strip(". ")
    return name[:200] or fallback


def detect_type(data: bytes) -> str:
    detected = str(magic.from_buffer(data[:MAGIC_BYTES], mime=True))
    if detected in ("application/zip", "application/octet-stream") and \
            data.startswith(b"PK\x03\x04"):
        return _office_type(data) or detected
    return detected


def _office_type(data: bytes) -> str | None:
    """Office and OpenDocument files are zips: tell them by their members' names (read from
    the zip's directory; nothing is extracted but an OpenDocument's tiny `mimetype`)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            for member, kind in OFFICE_MEMBERS:
                if member in names and "[Content_Types].xml" in names:
                    return kind
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 100:
                declared = archive.read("mimetype").decode("ascii", "replace").strip()
                if declared.startswith("application/vnd.oasis.opendocument."):
                    return declared
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return None
    return None


def find_attachments(msg: Message, decode_limit: int | None = None) -> list[Found]:
    """The files of a message. A base64 part whose decoded size would exceed
    `decode_limit` (the per-file limit: it will be refused) is only measured and typed from
    its first bytes, never decoded whole: a 50 MB video costs no 120 MB of copies.

    Consumes the message: each file part's encoded text is dropped once decoded, so that
    five 10 MB files never sit in memory both encoded and decoded (call it last)."""
    referenced = _cids_shown(msg)
    found: list[Found] = []
    for part in _leaves(msg):
        kind = _content_type(part)
        disposition = str(part.get("content-disposition") or "").lower()
        filename = _filename(part)
        if kind in SIGNATURE_TYPES:
            continue
        if kind in ("text/plain", "text/html") and not filename and \
                not disposition.startswith("attachment"):
            continue  # the message's own text
        name = clean_filename(filename, f"attachment-{len(found) + 1}")
        oversized = _oversized_base64(part, decode_limit)
        if oversized is not None:
            prefix, size = oversized
            found.append(Found(name, kind, detect_type(prefix), size, "", False, b""))
            continue
        data = _payload(part)
        part.set_payload("")
        if kind in TNEF_TYPES or name.lower() == "winmail.dat":
            inner = _tnef_files(data)
            if inner is not None:
                found.extend(inner)
                continue
        if kind == "message/rfc822" and data:
            # Structure, not a claim: the MIME parser read this part as a message.
            found.append(Found(name if filename else "attached-message.eml", kind, kind,
                               len(data), hashlib.sha256(data).hexdigest(), False, data))
            continue
        content_id = str(part.get("content-id") or "").strip().strip("<>")
        inline = bool(content_id) and content_id in referenced
        found.append(_found(name, kind, data, inline))
    return found


def _found(name: str, declared: str, data: bytes, inline: bool) -> Found:
    return Found(name, declared, detect_type(data), len(data),
                 hashlib.sha256(data).hexdigest(), inline, data)


def _leaves(msg: Message) -> list[Message]:
    """Leaf parts in order; an attached message is one leaf, not opened."""
    if msg.get_content_type() == "message/rfc822" or not msg.is_multipart():
        return [msg]
    leaves: list[Message] = []
    payload = msg.get_payload()
    for child in payload if isinstance(payload, list) else []:
        if isinstance(child, Message):
            leaves.extend(_leaves(child))
    return leaves


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _filename(part: Message) -> str:
    """The part's file name; "" at once where no header could carry one (a filename only
    comes with Content-Disposition, a name with Content-Type): the stdlib's parameter
    parsing is slow, and most parts are a message's own text."""
    if part.get("content-disposition") is None \
            and "name" not in str(part.get("content-type") or "").lower():
        return ""
    try:
        return str(part.get_filename() or part.get_param("name") or "")
    except Exception:
        return ""


def _oversized_base64(part: Message, limit: int | None) -> tuple[bytes, int] | None:
    """(first decoded bytes, decoded size) of a base64 part larger than `limit`, else None."""
    if limit is None or str(part.get("content-transfer-encoding", "")).strip().lower() \
            != "base64":
        return None
    encoded = part.get_payload()
    if not isinstance(encoded, str) or len(encoded) * 3 // 4 <= limit:
        return None
    significant = len(encoded) - sum(encoded.count(ch) for ch in "\r\n\t ")
    size = significant * 3 // 4 - encoded.rstrip()[-2:].count("=")
    if size <= limit:
        return None
    head = "".join(encoded[:MAGIC_BYTES * 2].split())
    head = head[: len(head) // 4 * 4]
    try:
        return binascii.a2b_base64(head)[:MAGIC_BYTES], size
    except binascii.Error:
        return None


def _payload(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            try:
                return inner[0].as_bytes(policy=VERBATIM)
            except Exception:
                return b""
    encoded = part.get_payload()
    if isinstance(encoded, str) and \
            str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
        try:  # straight from the text: the stdlib first splits it into lines and rejoins
            return binascii.a2b_base64(encoded)
        except (binascii.Error, ValueError):
            pass
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    return data if isinstance(data, bytes) else b""


def _cids_shown(msg: Message) -> set[str]:
    shown: set[str] = set()
    for part in _leaves(msg):
        if _content_type(part) == "text/html":
            html = _payload(part).decode("utf-8", "replace")
            shown.update(match.group(1) for match in CID.finditer(html))
    return shown


def _tnef_files(data: bytes) -> list[Found] | None:
    """The files inside a winmail.dat, or None if it cannot be read."""
    from tnefparse import TNEF

    try:
        tnef = TNEF(data, do_checksum=False)
        files = []
        for index, attachment in enumerate(tnef.attachments):
            name = attachment.long_filename() or attachment.name or ""
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            payload = attachment.data if isinstance(attachment.data, bytes) else b""
            files.append(_found(clean_filename(str(name), f"winmail-{index + 1}"),
                                "application/octet-stream", payload, False))
        return files
    except Exception:
        return None
