"""Raw bytes -> InboundMail on the fixture mails and on deliberately broken input."""

from __future__ import annotations

from datetime import UTC, datetime

from maildaemon.parse import decode_words, html_to_text, parse_mail
from tests.conftest import FIXTURES


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_plain_mail_fields() -> None:
    mail = parse_mail(load("plain_new.eml"))
    assert mail.from_addr == "carol@example.net"
    assert mail.from_name == "Carol Jones"
    assert mail.to == ("tech@healthsync.com",)
    assert mail.subject == "Sync stops after the update"
    assert mail.message_id == "<plain-new-1@example.net>"
    assert mail.date == datetime(2026, 11, 27, 8, 15, tzinfo=UTC)
    assert "error E1042" in mail.text
    assert mail.envelope_sender == "carol@example.net"  # from Return-Path


def test_html_only_body_becomes_text_without_style() -> None:
    mail = parse_mail(load("html_only.eml"))
    assert mail.text == "I was charged twice — please refund.\n\nThanks,\nDana"


def test_undeclared_8bit_headers_keep_their_letters() -> None:
    mail = parse_mail(load("eightbit_headers_cp1252.eml"))
    assert mail.from_name == "François Dupré"
    assert mail.subject == "Problème de connexion"
    assert "mise à jour" in mail.text


def test_encoded_word_subject_is_decoded() -> None:
    mail = parse_mail(load("encoded_subject_reply.eml"))
    assert mail.subject == "Sv: [HS-123456] Ingen åtkomst"


def test_null_return_path_is_a_null_envelope_sender() -> None:
    mail = parse_mail(load("bounce_dsn.eml"))
    assert mail.envelope_sender == ""
    assert mail.content_type == "multipart/report"


def test_unknown_charset_and_bad_encoded_words_do_not_raise() -> None:
    assert decode_words("=?x-klingon?q?abc?= hi") == "abc hi"
    assert decode_words("=?utf-8?b?!!!notbase64?=") != ""
    raw = (b"From: =?bogus?Q?x?= <a@b.org>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
           b"Date: not a date at all\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n"
           b"caf\xe9\r\n")
    mail = parse_mail(raw)
    assert mail.subject == "café"
    assert mail.date is None
    assert mail.text.startswith("caf")


def test_missing_message_id_dedups_on_the_exact_bytes() -> None:
    a = parse_mail(b"From: a@b.org\r\nSubject: x\r\n\r\nbody\r\n")
    b = parse_mail(b"From: a@b.org\r\nSubject: x\r\n\r\nbody\r\n")
    c = parse_mail(b"From: a@b.org\r\nSubject: x\r\n\r\nother body\r\n")
    assert a.message_id is None
    assert a.dedup_key == b.dedup_key != c.dedup_key


def test_same_message_id_different_body_is_not_a_duplicate() -> None:
    a = parse_mail(b"Message-ID: <same@x>\r\nFrom: a@b.org\r\n\r\none\r\n")
    b = parse_mail(b"Message-ID: <same@x>\r\nFrom: a@b.org\r\n\r\ntwo\r\n")
    c = parse_mail(b"Message-ID: <same@x>\r\nFrom: a@b.org\r\nReceived: by relay\r\n\r\none\r\n")
    assert a.dedup_key != b.dedup_key
    assert a.dedup_key == c.dedup_key  # a retry through another hop is still a duplicate


def test_garbage_bytes_parse_to_an_empty_mail() -> None:
    mail = parse_mail(bytes(range(256)) * 4)
    assert mail.from_addr == ""
    assert mail.size == 1024


def test_references_are_split_into_ids() -> None:
    mail = parse_mail(b"References: <a@x>\r\n <b@y>\t<c@z>\r\nIn-Reply-To: <c@z>\r\n\r\n")
    assert mail.references == ("<a@x>", "<b@y>", "<c@z>")
    assert mail.in_reply_to == ("<c@z>",)


def test_html_to_text_keeps_paragraphs() -> None:
    assert html_to_text("<p>a</p><script>x()</script><p>b&amp;c</p>") == "a\n\nb&c"


def test_broken_continuation_line_does_not_end_the_headers() -> None:
    raw = (b"From mbox-line@example.org Wed Apr 19 20:56:33 2017\n"
           b"Received: from x by y\n"
           b"X-Tracker: H4sIAAAAAAAAA+NgFlrIKsWRWlGSWpSXmKPE\n"
           b"Ig5drOCwmrVzP5sDoseXbDeYAxijWzLyk\n"
           b"From: Karoline <karoline@example.com>\n"
           b"Subject: AW: One Net Business\n\nBody text\n")
    mail = parse_mail(raw)
    assert mail.from_addr == "karoline@example.com"
    assert mail.subject == "AW: One Net Business"
    assert mail.text.strip() == "Body text"


def test_junk_before_the_first_header_is_skipped() -> None:
    raw = (b"---- Original email message ----\r\nSubject: Contact from Server\r\n"
           b"From: someone@example.cz\r\n\r\nHello\r\n")
    mail = parse_mail(raw)
    assert (mail.subject, mail.from_addr) == ("Contact from Server", "someone@example.cz")


def test_missing_blank_line_after_headers_keeps_the_body() -> None:
    raw = b"From: a@example.org\r\nSubject: hi\r\nthis is the body, no blank line\r\nmore\r\n"
    mail = parse_mail(raw)
    assert mail.subject == "hi"
    assert "this is the body" in mail.text


def test_first_from_with_an_address_is_the_sender() -> None:
    raw = (b"From: [??????]\r\nFrom: =?utf-8?B?6YO955C5?= <ghgbwum@example.cn>\r\n\r\nx\r\n")
    assert parse_mail(raw).from_addr == "ghgbwum@example.cn"
    two = b'From: "Broken" <>, "LTD" <ly@example.com>\r\n\r\nx\r\n'
    assert parse_mail(two).from_addr == "ly@example.com"


def test_undeclared_8bit_header_uses_the_declared_multibyte_body_charset() -> None:
    subject = "转发：整体提升".encode("gb2312")
    raw = (b"From: a@example.org\r\nSubject: " + subject + b"\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nwrapper\r\n--b\r\n"
           b"Content-Type: text/plain; charset=gb2312\r\n\r\n" + "正文".encode("gb2312")
           + b"\r\n--b--\r\n")
    assert parse_mail(raw).subject == "转发：整体提升"
