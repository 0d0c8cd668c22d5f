"""Sensitive data masked in a whole message (masking.py, rewrite.py): mails as real clients
write them, parsed as the worker parses them. The masked copy holds no value in any
encoding, and every byte that held none is as it came."""

from __future__ import annotations

import base64
import re
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default

import pytest

from maildaemon import masking
from maildaemon.parse import parse_mail
from maildaemon.policy.sensitive import NOTHING
from tests.test_attachments import png

CARD = "4111 1111 1111 1111"
SSN = "123-45-6789"
VALUES = ("4111111111111111", "123456789", "hunter2")  # as digits: separators taken out


def shown(raw: bytes) -> str:
    """Everything a mail program could show of `raw`: every header decoded and every
    part's content, text or not (bytes as latin-1)."""
    msg = message_from_bytes(raw, policy=default)
    out: list[str] = []
    for part in msg.walk():
        out += [f"{name}: {value}" for name, value in part.items()]
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            charset = part.get_content_charset() or "utf-8"
            try:
                out.append(data.decode(charset))
            except (LookupError, UnicodeDecodeError):
                out.append(data.decode("latin-1"))
    return "\n".join(out)


def leaked(text: str) -> list[str]:
    """The values found in `text`, whatever separators or markup stand between digits."""
    digits = re.sub(r"&nbsp;|&#160;|<[^>]*>|[\s\-\u00a0]", "", text)
    return [v for v in VALUES if v in digits or v in text]


def gmail(subject: str, text: str, html: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Anna Berg <anna.berg@gmail.com>"
    msg["To"] = "billing@healthsync.com"
    msg["Subject"] = subject
    msg["Message-ID"] = "<CAF=abc123@mail.gmail.com>"
    msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0100"
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(f'<div dir="ltr">{html}</div>', subtype="html",
                        cte="quoted-printable")
    return msg


def outlook(subject: str, text: str, html: str) -> bytes:
    """Outlook 16: Thread-Topic copies the subject, the HTML part in base64, &nbsp;s."""
    encoded = base64.encodebytes(
        f'<html><body><p class=MsoNormal>{html}<o:p></o:p></p></body></html>'.encode()
    ).decode().replace("\n", "\r\n")
    return (f"From: Ben Ortiz <ben@contoso.com>\r\nTo: support@healthsync.com\r\n"
            f"Subject: {subject}\r\nThread-Topic: {subject}\r\n"
            "Thread-Index: AQHa1b2c3d4e5f6g7h8i9j0k\r\n"
            "Message-ID: <DB8PR04MB1234@DB8PR04MB1234.eurprd04.prod.outlook.com>\r\n"
            "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/alternative; boundary="_000_DB8PR04_"\r\n\r\n'
            "--_000_DB8PR04_\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n"
            f"Content-Transfer-Encoding: 7bit\r\n\r\n{text}\r\n"
            "--_000_DB8PR04_\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
            "--_000_DB8PR04_--\r\n").encode()


def with_files(msg: EmailMessage) -> EmailMessage:
    msg.add_attachment(f"name,card,ssn\nAnna,{CARD},{SSN}\n".encode(), maintype="text",
                       subtype="csv", filename="export.csv")
    msg.add_attachment(f"2026-11-28 10:00 charge card={CARD.replace(' ', '')} ok\n".encode(),
                       maintype="application", subtype="octet-stream", filename="app.log")
    msg.add_attachment(png(40, 30), maintype="image", subtype="png", filename="shot.png")
    return msg


def test_gmail_mail_with_files_keeps_no_value_anywhere() -> None:
    msg = with_files(gmail(f"Charged twice on card {CARD}",
                           f"Hi,\nmy card {CARD} was charged twice. SSN {SSN}.\n"
                           "Password: hunter2\n\nAnna",
                           f"Hi,<br>my card {CARD.replace(' ', '&nbsp;')} was charged "
                           f"twice. SSN {SSN}.<br>Password: <b>hunter2</b><br><br>Anna"))
    raw = msg.as_bytes()
    assert len(leaked(shown(raw))) == 3  # the test can fail
    mail = parse_mail(raw)
    assert mail.removed is not None and mail.kept_raw is not None
    assert mail.removed.kinds == ("card", "ssn", "password")
    assert mail.removed.places == ("the subject", "the text", "export.csv", "app.log")
    assert mail.removed.own_words and mail.removed.complete
    assert mail.subject == "Charged twice on card **** **** **** 1111"
    assert "my card **** **** **** 1111 was charged twice. SSN ***-**-****." in mail.text
    assert "Password: ********" in mail.own_text
    files = {a.filename: a for a in mail.attachments}
    assert files["export.csv"].data == b"name,card,ssn\nAnna,**** **** **** 1111,***-**-****\n"
    assert files["app.log"].data == b"2026-11-28 10:00 charge card=************1111 ok\n"
    assert files["shot.png"].data == png(40, 30)  # binary: as it came
    for text in (shown(mail.kept_raw), mail.kept_raw.decode("latin-1"), mail.text,
                 mail.own_text, mail.subject, *(a.data.decode("latin-1")
                                                 for a in mail.attachments)):
        assert leaked(text) == []
    assert mail.kept_raw.startswith(b"X-Maildaemon-Masked: card number, social security "
                                    b"number, password or PIN")
    # Every part that held nothing is the same bytes, here the PNG's base64.
    png_b64 = base64.encodebytes(png(40, 30)).replace(b"\n", b"").decode()
    assert png_b64 in mail.kept_raw.decode().replace("\n", "")
    assert mail.raw_sha256 != parse_mail(raw, mask=NOTHING).raw_sha256


def test_outlook_thread_topic_and_base64_html_are_masked() -> None:
    raw = outlook(f"Refund card {CARD}", f"Please refund card {CARD}.\r\nBen",
                  f"Please refund card {CARD.replace(' ', '&nbsp;')}.")
    mail = parse_mail(raw)
    assert mail.kept_raw is not None and mail.removed is not None
    assert leaked(shown(mail.kept_raw)) == []
    kept = message_from_bytes(mail.kept_raw, policy=default)
    assert str(kept["Thread-Topic"]) == "Refund card **** **** **** 1111"
    assert kept["Thread-Index"] == "AQHa1b2c3d4e5f6g7h8i9j0k"
    html = kept.get_body(("html",))
    assert html is not None and "****&nbsp;****&nbsp;****&nbsp;1111" in html.get_content()
    assert html["Content-Transfer-Encoding"] == "base64"  # re-encoded as it was
    assert mail.kept_raw.count(b"\r\n") > 10 and b"\n" not in mail.kept_raw.replace(
        b"\r\n", b"")  # the CRLF line ends kept


def test_a_subject_in_encoded_words_and_latin1_text() -> None:
    raw = (f"From: =?iso-8859-1?q?J=FCrgen?= <juergen@web.de>\r\nTo: billing@healthsync.com\r\n"
           f"Subject: =?utf-8?q?R=C3=BCckerstattung_Karte_{CARD.replace(' ', '_')}?=\r\n"
           "Message-ID: <1@web.de>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=iso-8859-1\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + \
        f"Grüße, meine Karte {CARD} wurde zweimal belastet.\r\n".encode("iso-8859-1")
    mail = parse_mail(raw)
    assert mail.subject == "Rückerstattung Karte **** **** **** 1111"
    assert mail.text == "Grüße, meine Karte **** **** **** 1111 wurde zweimal belastet.\n"
    assert mail.kept_raw is not None
    assert "Grüße".encode("iso-8859-1") in mail.kept_raw  # the charset stays the sender's
    assert mail.from_name == "Jürgen"


def test_html_that_splits_a_number_becomes_its_text() -> None:
    raw = (b"From: a@example.org\r\nTo: support@healthsync.com\r\nSubject: card\r\n"
           b"Message-ID: <2@example.org>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<p>My card: <span>4111</span> <span>1111</span> <b>1111</b> 1111</p>\r\n"
           b"<script>x</script>")
    mail = parse_mail(raw)
    assert mail.removed is not None and mail.removed.complete
    assert mail.kept_raw is not None and b"<pre>" in mail.kept_raw
    assert leaked(shown(mail.kept_raw)) == [] and leaked(mail.text) == []
    assert "**** **** **** 1111" in mail.text


def test_an_attached_message_is_masked_inside() -> None:
    inner = gmail(f"Old card {CARD}", f"card {CARD}", "no")
    outer = gmail("Forwarding the mail", "See the attached mail.", "See it.")
    outer.add_attachment(inner, filename="old.eml")
    mail = parse_mail(outer.as_bytes())
    assert mail.removed is not None and mail.removed.places == ("old.eml",)
    assert mail.kept_raw is not None and leaked(shown(mail.kept_raw)) == []


def test_a_reply_that_only_quotes_it_is_masked_but_not_told() -> None:
    msg = gmail("Re: [HS-123456] Refund",
                f"Thanks, that helps.\n\nOn Sat, 28 Nov 2026 Anna wrote:\n> my card {CARD}\n",
                "Thanks, that helps.")
    msg["In-Reply-To"] = "<ack@healthsync.com>"
    mail = parse_mail(msg.as_bytes())
    assert mail.removed is not None and not mail.removed.own_words
    assert "> my card **** **** **** 1111" in mail.text


def test_mail_without_anything_is_untouched() -> None:
    msg = gmail("Invoice 1042 wrong", "I was charged twice on 28/11/2026 at 10:00."
                           "\nOrder 1234567890123, call +49 30 1234 5678.",
                           "I was charged twice.")
    msg.add_attachment(b"2026-11-28 10:00:01 GET /api 200 1700000000123\n", maintype="text",
                       subtype="plain", filename="app.log")
    raw = msg.as_bytes()
    mail = parse_mail(raw)
    assert mail.removed is None and mail.kept_raw is None
    assert mail == parse_mail(raw, mask=NOTHING)


def test_masking_off_keeps_mail_as_received() -> None:
    raw = gmail(f"card {CARD}", f"card {CARD}", "x").as_bytes()
    mail = parse_mail(raw, mask=NOTHING)
    assert mail.removed is None and CARD in mail.subject


def test_a_copy_that_cannot_be_made_is_marked_incomplete(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise ValueError("a structure nobody expected")

    monkeypatch.setattr(masking, "rewrite", broken)
    mail = parse_mail(gmail(f"card {CARD}", f"card {CARD}", "x").as_bytes())
    assert mail.removed is not None and not mail.removed.complete
    assert mail.kept_raw is None


def test_a_copy_that_still_holds_something_is_marked_incomplete(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = masking.rewrite

    def forgetful(raw: bytes, msg: Message, *args: object) -> object:
        done = real(raw, msg, *args)  # type: ignore[arg-type]
        assert done is not None
        return raw, done[1]  # the original bytes, as if nothing had been masked

    monkeypatch.setattr(masking, "rewrite", forgetful)
    mail = parse_mail(gmail(f"card {CARD}", f"card {CARD}", "x").as_bytes())
    assert mail.removed is not None and not mail.removed.complete


def test_a_part_that_cannot_be_written_in_place_makes_a_new_copy() -> None:
    """uuencode (Pine, old Eudora) is not written back as such: the whole message is
    generated anew, that part in base64, the others as they came."""
    import binascii
    line = binascii.b2a_uu(f"card {CARD}\n".encode()).decode()
    raw = ("From: old@example.org\r\nTo: support@healthsync.com\r\nSubject: old mailer\r\n"
           'Message-ID: <3@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed;'
           ' boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n'
           "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n"
           'Content-Disposition: attachment; filename="card.txt"\r\n\r\n'
           f"begin 644 card.txt\r\n{line}`\r\nend\r\n--b--\r\n").encode()
    mail = parse_mail(raw)
    assert mail.removed is not None and mail.removed.complete
    assert mail.removed.places == ("card.txt",)
    assert mail.kept_raw is not None and leaked(shown(mail.kept_raw)) == []
    assert b"Content-Transfer-Encoding: base64" in mail.kept_raw
    assert mail.text == "See the file."
    [file] = mail.attachments
    assert file.data == b"card **** **** **** 1111\n"


def test_a_files_name_is_masked_in_the_copy_and_where_it_is_shown() -> None:
    msg = gmail("Refund", "See the file.", "See it.")
    msg.add_attachment(b"%PDF-1.4\n%%EOF\n", maintype="application", subtype="pdf",
                       filename=f"statement card {CARD}.pdf")
    mail = parse_mail(msg.as_bytes())
    assert mail.removed is not None and mail.removed.places == ("a file's name",)
    [file] = mail.attachments
    assert file.filename == "statement card **** **** **** 1111.pdf"
    assert file.data == b"%PDF-1.4\n%%EOF\n"  # the file itself is binary: not read
    assert mail.kept_raw is not None and leaked(mail.kept_raw.decode()) == []
