"""Our MIME assembly, checked against the standard library's strict parser."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

import pytest

from maildaemon.mime import HeaderInjection, alternative, fold, text_header
from maildaemon.render import Renderer, sample_variables


def render(subject: str, to: str = "alice@example.org") -> bytes:
    renderer = Renderer("healthsync.com", b"secret")
    return renderer.render(
        "ack", number="HS-123456", queue="billing", queue_address="billing@healthsync.com",
        to=to, ticket_subject=subject, now=datetime(2026, 11, 28, tzinfo=UTC),
        in_reply_to="<a1@example.org>", references=("<r0@example.org>",),
        variables=sample_variables(),
    ).raw


def test_rendered_message_parses_back_exactly() -> None:
    raw = render("Grüße aus Köln — ünïcödé " * 6)
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = message_from_bytes(raw, policy=default)
    assert not msg.defects
    assert msg["Subject"] == "[HS-123456] " + ("Grüße aus Köln — ünïcödé " * 6).strip()
    assert msg["From"] == "Billing team <billing@healthsync.com>"
    assert msg["In-Reply-To"] == "<a1@example.org>"
    assert msg["References"] == "<r0@example.org> <a1@example.org>"
    assert msg["Auto-Submitted"] == "auto-replied"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "Your request is now ticket HS-123456" in text.get_content()
    assert "<strong>HS-123456</strong>" in html.get_content()


def test_long_ascii_subject_is_folded_and_unfolds_intact() -> None:
    subject = "word " * 39  # long enough to fold, within the 200 characters we echo
    msg = message_from_bytes(render(subject), policy=default)
    assert msg["Subject"] == "[HS-123456] " + subject.strip()


def test_html_escapes_customer_text() -> None:
    raw = render("<script>alert(1)</script>")
    html = message_from_bytes(raw, policy=default).get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;" in html.get_content()


@pytest.mark.parametrize("value", ["a@b.org\r\nBcc: x@evil", "a@b.org\nBcc: x", "a\0b"])
def test_line_breaks_in_header_values_are_refused(value: str) -> None:
    with pytest.raises(HeaderInjection):
        fold("To", value)
    with pytest.raises(HeaderInjection):
        render("x", to=value)


def test_text_header_flattens_line_breaks_in_free_text() -> None:
    assert text_header("Subject", "a\r\nBcc: x@evil") == "Subject: a Bcc: x@evil"


def test_alternative_round_trip_of_tabs_and_trailing_spaces() -> None:
    raw = alternative(["Subject: t"], "a\tb  \nline two \n", "<p>x</p>")
    msg = message_from_bytes(raw, policy=default)
    part = msg.get_body(("plain",))
    assert part is not None
    assert part.get_content().replace("\r\n", "\n") == "a\tb  \nline two \n"


def test_long_non_ascii_subject_is_split_into_valid_words() -> None:
    subject = "转发：整体提升企业服务水平 " * 40 + "🎉 done"
    header = text_header("Subject", subject)
    lines = header.split("\r\n")
    assert all(len(line) <= 78 for line in lines)
    raw = f"{header}\r\n\r\nbody\r\n".encode()
    assert message_from_bytes(raw, policy=default)["Subject"] == " ".join(subject.split())
