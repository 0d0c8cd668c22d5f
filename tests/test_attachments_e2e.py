"""Attachments over real SMTP to a real daemon: files of each kind, made in the test."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, DOMAIN, Installation, acks_to
from tests.outbound_sink import wait_outbox_settled
from tests.test_attachments import DOCX, EXE, PDF, office, png, tnef

pytestmark = pytest.mark.slow  # every test here starts `maildaemon serve`

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def files_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = Installation(tmp_path_factory.mktemp("files"), max_message_size=80 * MIB)
    inst.start()
    yield inst
    inst.kill()


def sized_pdf(size: int) -> bytes:
    return PDF + b"%" + b"0" * (size - len(PDF) - 1)


def sender() -> str:
    return f"files-{uuid.uuid4().hex[:8]}@example.org"


def message(frm: str, subject: str, files: list[tuple[str, bytes, str]],
            logo: bytes | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = frm, f"support@{DOMAIN}", subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    msg.set_content("Files attached.")
    if logo is not None:
        msg.add_alternative('<p>Files attached.</p><img src="cid:logo@example.org">',
                            subtype="html")
        msg.get_payload()[1].add_related(logo, "image", "png", cid="<logo@example.org>")
    for name, data, declared in files:
        maintype, _, subtype = declared.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def deliver(inst: Installation, msg: EmailMessage) -> dict[str, Any]:
    """Send, then wait until it is stored and whatever it was answered is delivered. A
    follow-up within the hour of the acknowledgement is answered only when it names a
    refused file (one receipt confirmation per ticket an hour)."""
    frm = str(msg["From"])
    inst.send(msg)
    inst.wait_spool_empty(60)
    [ticket] = [t for t in inst.tickets() if t["requester"] == frm]
    wait_outbox_settled(inst)
    return inst.show(ticket["number"])


def last_reply_text(inst: Installation, frm: str) -> str:
    raw = acks_to(inst, frm)[-1]
    body = message_from_bytes(raw, policy=default).get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_sixth_file_is_refused_and_the_customer_told(files_daemon: Installation) -> None:
    frm = sender()
    shown = deliver(files_daemon, message(frm, "six files", [
        (f"shot{i}.png", png(i + 2), "image/png") for i in range(6)]))
    [inbound] = [m for m in shown["messages"] if m["direction"] == "inbound"]
    assert [a["filename"] for a in inbound["attachments"]] == [f"shot{i}.png" for i in range(5)]
    assert inbound["rejected_attachments"] == [{
        "filename": "shot5.png", "reason": "this ticket already has 5 files",
        "content_type": "image/png", "size": len(png(7))}]
    assert "  - shot5.png: this ticket already has 5 files" in last_reply_text(files_daemon,
                                                                              frm)


def test_eleven_megabytes_is_refused_the_rest_kept(files_daemon: Installation) -> None:
    frm = sender()
    shown = deliver(files_daemon, message(frm, "big", [
        ("big.pdf", sized_pdf(11 * MIB), "application/pdf"),
        ("small.pdf", PDF, "application/pdf")]))
    [inbound] = [m for m in shown["messages"] if m["direction"] == "inbound"]
    assert [a["filename"] for a in inbound["attachments"]] == ["small.pdf"]
    assert "  - big.pdf: 11 MB is over the 10 MB limit per file" in last_reply_text(
        files_daemon, frm)


def test_fifty_megabytes_reached_across_three_messages(files_daemon: Installation) -> None:
    frm = sender()
    ten = sized_pdf(10 * MIB - 16)  # five of these fit in 50 MB; with the logo they do not
    shown = deliver(files_daemon, message(frm, "part 1", [("a.pdf", ten, "application/pdf"),
                                                         ("b.pdf", ten + b"b",
                                                          "application/pdf")]))
    number = shown["number"]
    for part, names in ((2, ("c.pdf", "d.pdf")), (3, ("e.pdf",))):
        reply = message(frm, f"Re: [{number}] part {part}",
                        [(n, ten + n.encode(), "application/pdf") for n in names],
                        logo=png(300, 300) if part == 3 else None)
        shown = deliver(files_daemon, reply)
    stored = [a for m in shown["messages"] for a in m["attachments"]]
    assert [a["filename"] for a in stored if not a["inline"]] == ["a.pdf", "b.pdf", "c.pdf",
                                                                  "d.pdf"]
    assert "  - e.pdf: the files on this ticket would exceed 50 MB" in last_reply_text(
        files_daemon, frm)
    # A large file is kept as a file, fsynced before its commit; it comes back whole.
    saved = files_daemon.tmp / "a.pdf"
    files_daemon.cli("attachment", number, "1", "--output", str(saved))
    assert saved.read_bytes() == ten
    for data in (ten, ten + b"b", ten + b"c.pdf", ten + b"d.pdf"):  # by content hash
        digest = hashlib.sha256(data).hexdigest()
        assert (files_daemon.tmp / "data" / "attachments" / digest[:2] / digest).is_file()


def test_content_decides_the_type_and_the_mismatch_is_recorded(
    files_daemon: Installation,
) -> None:
    frm = sender()
    shown = deliver(files_daemon, message(frm, "types", [
        ("photo.png", EXE, "image/png"),
        ("notes.docx", DOCX, "application/octet-stream"),
        ("logs.zip", office({"a.log": "x"}), "application/zip")]))
    [inbound] = [m for m in shown["messages"] if m["direction"] == "inbound"]
    assert [(a["filename"], a["content_type"]) for a in inbound["attachments"]] == [
        ("notes.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document")]
    assert {r["filename"]: r["reason"] for r in inbound["rejected_attachments"]} == {
        "photo.png": "this file type is not accepted",
        "logs.zip": "this file type is not accepted"}
    assert any(e["type"] == "attachment_mismatch" and "photo.png" in e["detail"]
               and "application/x-dosexec" in e["detail"] for e in shown["events"])


def test_inline_logo_in_every_reply_is_stored_once(files_daemon: Installation) -> None:
    frm = sender()
    logo = png(40, 10)
    shown = deliver(files_daemon, message(frm, "logo", [], logo=logo))
    for i in range(3):
        shown = deliver(files_daemon, message(frm, f"Re: [{shown['number']}] again {i}", [],
                                              logo=logo))
    stored = [a for m in shown["messages"] for a in m["attachments"]]
    assert [(a["inline"], a["content_type"]) for a in stored] == [(True, "image/png")]


def test_hostile_names_and_saving_an_attachment(files_daemon: Installation,
                                                tmp_path: Path) -> None:
    frm = sender()
    log = b"2026-11-28 10:00:00 ERROR sync stopped\n"
    shown = deliver(files_daemon, message(frm, "names", [
        ("../../etc/passwd", log, "text/plain"),
        ("report\u202egnp.pdf", PDF, "application/pdf")]))
    [inbound] = [m for m in shown["messages"] if m["direction"] == "inbound"]
    assert [a["filename"] for a in inbound["attachments"]] == ["passwd", "reportgnp.pdf"]
    target = tmp_path / "saved.log"
    files_daemon.cli("attachment", shown["number"], "1", "--output", str(target))
    assert target.read_bytes() == log
    # Stored by content hash, never under the sender's name, wherever the bytes are kept.
    names = {p.name for p in (files_daemon.tmp / "data").rglob("*")}
    assert not names & {"passwd", "etc", "reportgnp.pdf", "report\u202egnp.pdf"}


def test_generated_winmail_dat_over_smtp(files_daemon: Installation) -> None:
    frm = sender()
    shown = deliver(files_daemon, message(frm, "outlook", [
        ("winmail.dat", tnef([("report.pdf", PDF), ("setup.exe", EXE)]),
         "application/ms-tnef")]))
    [inbound] = [m for m in shown["messages"] if m["direction"] == "inbound"]
    assert [a["filename"] for a in inbound["attachments"]] == ["report.pdf"]
    assert [r["filename"] for r in inbound["rejected_attachments"]] == ["setup.exe"]
    assert "  - setup.exe: this file type is not accepted" in last_reply_text(files_daemon,
                                                                             frm)


@pytest.mark.skipif(not (CORPUS / "mimekit" / "tnef" / "rich-text.eml").is_file(),
                    reason=f"the corpus is absent ({CORPUS}): no real winmail.dat to send")
def test_winmail_dat_files_are_judged_one_by_one(files_daemon: Installation) -> None:
    raw = (CORPUS / "mimekit" / "tnef" / "rich-text.eml").read_bytes()
    frm = sender()
    raw = b"From: " + frm.encode() + b"\r\n" + b"\r\n".join(
        line for line in raw.split(b"\n") if not line.lower().startswith(b"from:"))
    files_daemon.send(raw, sender=frm, rcpts=[f"support@{DOMAIN}"])
    files_daemon.wait_spool_empty(60)
    [ticket] = [t for t in files_daemon.tickets() if t["requester"] == frm]
    shown = files_daemon.show(ticket["number"])
    names = [a["filename"] for m in shown["messages"] for a in m["attachments"]] + \
        [r["filename"] for m in shown["messages"] for r in m["rejected_attachments"]]
    assert names and "winmail.dat" not in names
