"""Finding and typing attachments with the real libmagic, on files made in the test."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from maildaemon.attachments import clean_filename, detect_type, find_attachments
from tests.conftest import CORPUS


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                           0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def office(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def tnef(files: list[tuple[str, bytes]]) -> bytes:
    """A minimal winmail.dat (MS-OXTNEF): a version, then per file its rendering marker,
    title and data, each object with its checksum."""
    def obj(level: int, name: int, kind: int, data: bytes) -> bytes:
        return (struct.pack("<BHHI", level, name, kind, len(data)) + data
                + struct.pack("<H", sum(data) & 0xFFFF))
    out = struct.pack("<IH", 0x223E9F78, 0x0001) + obj(1, 0x9006, 0x0008, b"\x00\x00\x01\x00")
    for name, data in files:
        out += obj(2, 0x9002, 0x0006, b"\x00" * 14)
        out += obj(2, 0x8010, 0x0001, name.encode() + b"\x00")
        out += obj(2, 0x800F, 0x0006, data)
    return out


DOCX = office({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"})
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56 + b"This program cannot be run in DOS mode"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def parse(msg: EmailMessage) -> EmailMessage:
    return BytesParser().parsebytes(msg.as_bytes())  # type: ignore[return-value]


@pytest.mark.parametrize("data,expected", [
    (png(), "image/png"),
    (PDF, "application/pdf"),
    (DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (office({"a.txt": "x"}), "application/zip"),
    (EXE, "application/x-dosexec"),
    (b"2026-11-28 10:00:00 ERROR sync stopped at 42%\n", "text/plain"),
    (b'{"error": "E1042"}', "application/json"),
])
def test_types_come_from_the_content(data: bytes, expected: str) -> None:
    assert detect_type(data) == expected


@pytest.mark.parametrize("raw,expected", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\x\\report.pdf", "report.pdf"),
    ("evil\r\nBcc: x.png", "evil Bcc: x.png"),
    ("tab\x07bell.txt", "tabbell.txt"),
    ("invoice\u202egnp.exe", "invoicegnp.exe"),
    ("", "attachment-1"),
    ("...", "attachment-1"),
    ("=?utf-8?q?R=C3=A9sum=C3=A9.pdf?=", "Résumé.pdf"),
])
def test_hostile_filenames_are_cleaned(raw: str, expected: str) -> None:
    assert clean_filename(raw, "attachment-1") == expected


def test_attachments_inline_logo_and_body_parts() -> None:
    msg = EmailMessage()
    msg["Subject"] = "files"
    msg.set_content("see attached")
    msg.add_alternative('<p>hi</p><img src="cid:logo@x">', subtype="html")
    msg.get_payload()[1].add_related(png(), "image", "png", cid="<logo@x>")
    msg.add_attachment(EXE, maintype="application", subtype="pdf", filename="invoice.pdf")
    msg.add_attachment(DOCX, maintype="application", subtype="octet-stream",
                       filename="notes.docx")
    found = find_attachments(parse(msg))
    assert [(f.filename, f.detected_type, f.inline) for f in found] == [
        ("attachment-1", "image/png", True),
        ("invoice.pdf", "application/x-dosexec", False),
        ("notes.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", False),
    ]
    assert found[1].declared_type == "application/pdf"


def test_a_text_part_is_a_file_only_when_it_is_named_or_attached() -> None:
    """Old mailers name a text file on its Content-Type alone (`name=`, also as RFC 2231
    `name*0=`); the message's own text parts have neither a name nor a disposition."""
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthe body\r\n"
           b'--b\r\nContent-Type: text/plain; NAME="log.txt"\r\n\r\nline 1\r\n'
           b"--b\r\nContent-Type: text/plain; name*0=part; name*1=.txt\r\n\r\nline 2\r\n"
           b"--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment\r\n\r\n"
           b"<p>page</p>\r\n--b--\r\n")
    found = find_attachments(BytesParser().parsebytes(raw))
    assert [f.filename for f in found] == ["log.txt", "part.txt", "attachment-3"]


def test_signatures_are_not_files_and_an_attached_email_is_one() -> None:
    inner = EmailMessage()
    inner["Subject"] = "original"
    inner.set_content("forwarded text")
    msg = EmailMessage()
    msg.set_content("signed")
    msg.add_attachment(b"sig", maintype="application", subtype="pkcs7-signature",
                       filename="smime.p7s")
    msg.add_attachment(inner)
    found = find_attachments(parse(msg))
    assert [(f.filename, f.detected_type) for f in found] == [
        ("attached-message.eml", "message/rfc822")]


def test_generated_winmail_dat_is_opened() -> None:
    msg = EmailMessage()
    msg.set_content("from Outlook")
    msg.add_attachment(tnef([("report.pdf", PDF), ("setup.exe", EXE)]),
                       maintype="application", subtype="ms-tnef", filename="winmail.dat")
    found = find_attachments(parse(msg))
    assert [(f.filename, f.detected_type) for f in found] == [
        ("report.pdf", "application/pdf"), ("setup.exe", "application/x-dosexec")]


def test_unreadable_winmail_dat_stays_one_refusable_file() -> None:
    msg = EmailMessage()
    msg.set_content("broken")
    msg.add_attachment(b"not tnef at all", maintype="application", subtype="ms-tnef",
                       filename="winmail.dat")
    [found] = find_attachments(parse(msg))
    assert found.filename == "winmail.dat" and found.detected_type != "application/pdf"


@pytest.mark.skipif(not (CORPUS / "mimekit" / "tnef").is_dir(),
                    reason=f"the corpus is absent ({CORPUS}): no real winmail.dat to open")
def test_winmail_dat_is_opened_and_its_files_judged() -> None:
    raw = (CORPUS / "mimekit" / "tnef" / "rich-text.eml").read_bytes()
    found = find_attachments(BytesParser().parsebytes(raw))
    assert found, "the TNEF part yielded no files"
    assert all(f.filename != "winmail.dat" for f in found)
    assert all(f.detected_type != "application/ms-tnef" for f in found)
