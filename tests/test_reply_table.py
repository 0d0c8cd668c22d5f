"""The reply model (policy/reply.py) on the reply table of issue 17: every reply built as a
real client writes it, its exact own text and signature (rules:
tests/fixtures/replies/README.md); then the model's parts one at a time, and hostile input.
"""

from __future__ import annotations

import time

import pytest
from replies_table import ReplyCase, load

from maildaemon.parse import html_to_text, parse_mail
from maildaemon.policy.attributions import is_forward_subject
from maildaemon.policy.reply import read_reply
from tests.conftest import HANG_GUARD_SECONDS


def text_of(case: ReplyCase) -> str:
    """The text the model reads: the text/plain part; for an HTML-only reply, what
    parse.py makes of the HTML (htmltext.py restores the quote's "> " there)."""
    msg = case.message()
    plain = msg.get_body(("plain",))
    if plain is not None:
        return str(plain.get_content())
    html = msg.get_body(("html",))
    assert html is not None
    return html_to_text(str(html.get_content()))


def normalised(text: str) -> str:
    """Trailing spaces stripped from every line, nothing else (the fixtures' rule)."""
    return "\n".join(line.rstrip() for line in text.strip().split("\n"))


def table() -> list[object]:
    return [pytest.param(case, id=case.id) for case in load()]


@pytest.mark.parametrize("case", table())
def test_own_text_and_signature_as_the_table_says(case: ReplyCase) -> None:
    forwarded = case.message()["In-Reply-To"] is None  # a forward answers nothing
    reply = read_reply(text_of(case), forwarded=forwarded)
    assert normalised(reply.own_text) == normalised(case.own_text)
    assert normalised(reply.signature) == normalised(case.signature)


def kinds(text: str, **options: bool) -> list[str]:
    return [block.kind for block in read_reply(text, **options).blocks]


def test_an_inline_answer_carries_the_quoted_line_it_answers() -> None:
    text = ("Hi,\n\nOn Mon, 30 Nov 2026 at 08:14, Support <s@x.com> wrote:\n> Hello,\n>\n"
            "> 1. Which version?\n\n4.2.1\n\n> > 2. Every time?\n>\n\nOnly sometimes.\n\n"
            "> Kind regards,\n> Maria\n")
    reply = read_reply(text)
    assert reply.own_text == "Hi,\n\n> 1. Which version?\n4.2.1\n\n> 2. Every time?\n" \
        "Only sometimes."
    assert kinds(text) == ["own", "attribution", "quote", "own", "quote", "own", "quote"]
    assert reply.full == text


def test_an_answer_below_the_quote_is_kept_without_context() -> None:
    text = "Am 30.11.26 um 09:14 schrieb Support team:\n> Gelöst?\n\nJa, danke.\n\n-- \nJana\n"
    reply = read_reply(text)
    assert (reply.own_text, reply.signature) == ("Ja, danke.", "Jana")
    assert kinds(text) == ["attribution", "quote", "own", "signature"]


@pytest.mark.parametrize("attribution", [
    "On November 30, 2026 8:14:12 AM\nGMT+00:00, Support team\n<support@healthsync.com> wrote:",
    "Em seg., 30 de nov. de 2026 às 05:14, Support team <\nsupport@healthsync.com> escreveu:",
    "W dniu 30.11.2026 o 09:14, Support team pisze:",
    "2026年11月30日(月) 17:14 Support team <support@healthsync.com>:",
    "Support team <support@healthsync.com> 于2026年11月30日周一 16:14写道：",
    "2026-11-30 오후 5:14에 Support team 이(가) 쓴 글:",
    "Vào 30/11/2026 15:14, Support team đã viết:",
    "30.11.2026 11:14, Support team пишет:",
    "---- Support team wrote ----",
    "Support team sent:",
])
def test_attributions_in_many_forms_leave_the_own_text(attribution: str) -> None:
    assert read_reply(f"Fixed, thanks.\n\n{attribution}\n> Is it fixed?\n").own_text == \
        "Fixed, thanks."


def test_an_unmarked_quote_under_a_header_block_is_all_quote() -> None:
    text = ("Danke.\n\n*Von:* Support <s@x.com>\n*Gesendet:* Montag, 30. November 2026\n"
            "*An:* Jana\n*Betreff:* [HS-1] Sync\n\nHello Jana,\nwe believe it is solved.\n")
    assert kinds(text) == ["own", "header_block", "quote"]
    assert read_reply(text).own_text == "Danke."


def test_a_separator_starts_quoted_history() -> None:
    for separator in ("-----Original Message-----", "-----Reply Message-----",
                      "-------- Исходное сообщение --------", "________________________________"):
        text = f"Done.\n\n{separator}\nFrom: Support\nDate: 30/11/2026\n\nOld text\n"
        assert read_reply(text).own_text == "Done.", separator


def test_a_forward_sent_on_purpose_is_own_text_in_full() -> None:
    text = ("See below.\n\nSent from my iPhone\n\nBegin forwarded message:\n\n"
            "> From: Bank <b@x>\n> Date: 30 Nov 2026\n>\n> Charged twice.\n")
    reply = read_reply(text)
    assert reply.own_text == "See below.\n\n" + text.split("\n\n", 2)[2].rstrip("\n")
    assert reply.signature == "Sent from my iPhone"
    assert kinds(text) == ["own", "signature", "forward"]


def test_an_outlook_forward_is_kept_when_the_mail_answers_nothing() -> None:
    text = "See below.\n\nFrom: Bank <b@x>\nSent: Monday\nTo: me\n\nCharged twice.\n"
    assert read_reply(text).own_text == "See below."
    assert read_reply(text, forwarded=True).own_text == text.strip()


@pytest.mark.parametrize("text,own,signature", [
    ("It works.\n\nMit freundlichen Grüßen\nJana Müller\n", "It works.",
     "Mit freundlichen Grüßen\nJana Müller"),
    ("Готово.\n\nС уважением,\nОльга\n\nОтправлено с iPhone\n", "Готово.",
     "С уважением,\nОльга\nОтправлено с iPhone"),
    ("好的。\n\n发自我的iPhone\n", "好的。", "发自我的iPhone"),
    ("Thanks!\n", "Thanks!", ""),  # a sign-off that is all they wrote is what they said
    ("Thanks\n\nThe export still fails on the second page, see the log.\n",
     "Thanks\n\nThe export still fails on the second page, see the log.", ""),
])
def test_signatures_are_told_apart(text: str, own: str, signature: str) -> None:
    reply = read_reply(text)
    assert (reply.own_text, reply.signature) == (own, signature)


def test_own_lines_that_only_look_like_markers_stay_own() -> None:
    for text in ("I wrote to you on 5 May about this:\nthe app still crashes.",
                 "From: my colleague\nTo: me\nit failed again.",
                 "---- Update ----\nnow it works.", "Support team sent:\nnothing yet."):
        assert read_reply(text).own_text == text, text


HOSTILE = {
    "a megabyte of > lines": ">\n" * 500_000,
    "a megabyte of > on one line": ">" * 1_000_000,
    "a megabyte of spaces and a colon": " " * 1_000_000 + ":",
    "a 100 KB line": "On 1 2:30 <a@b> " * 6_250 + "wrote:",
    "a 100 KB line of dashes": "-" * 100_000,
    "10,000 inline answers": "".join(f"> q{i}\nanswer {i}\n" for i in range(5_000)),
    "10,000 sign-offs": "Thanks\n" * 10_000,
    "10,000 header lines": "From: a\nTo: b\n" * 5_000,
    "10,000 wrapped attribution starts": "On 1 2026 10:00 <\nx\n" * 5_000,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_read_to_the_end(name: str) -> None:
    started = time.perf_counter()
    reply = read_reply(HOSTILE[name])
    assert time.perf_counter() - started < HANG_GUARD_SECONDS
    assert reply.full == HOSTILE[name]



@pytest.mark.parametrize("subject,forward", [
    ("FW: Card payment", True), ("Fwd: Card payment", True), ("WG: Abbuchung", True),
    ("TR : Paiement", True), ("I: Addebito", True), ("PD: Płatność", True),
    ("İLT: Ödeme", True), ("转发: 付款", True), ("전달: 결제", True),
    ("RE: FW: Card payment", False), ("AW: Sync", False), ("Invoice: March", False),
    ("[HS-123456] Sync", False),
])
def test_a_forward_is_told_by_its_subject(subject: str, forward: bool) -> None:
    assert is_forward_subject(subject) is forward


@pytest.mark.parametrize("case", table())
def test_parse_gives_each_mail_the_tables_own_text(case: ReplyCase) -> None:
    """End to end through parse.py, which picks the part the model reads and says whether
    the mail answers anything: Outlook writes a forward's header block as it writes a
    reply's, and a mail without In-Reply-To or References keeps it as a forward."""
    assert normalised(parse_mail(case.raw).own_text) == normalised(case.own_text)
