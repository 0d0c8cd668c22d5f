"""Masking on the real mail of ../shared/corpus (353 messages from 13 projects' test suites:
bounces, out-of-office replies, list mail, replies in many languages, legacy charsets,
broken MIME, TNEF, S/MIME).

1. Nothing in it is masked by mistake: no message of real people or robots holds a card
   number, an SSN or a password by our rules, and the rules find none.
2. Masking never breaks the rest of a message: a test masker changes every "e" of every
   text part, text field and file name to "E"; the copy parses to the same sender,
   recipients, Message-ID, date, threading headers and files (the text files and the
   names changed the same way, the others byte for byte), and its text is the
   original's, changed the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maildaemon.masking import text_files
from maildaemon.parse import parse_mail, read_message
from maildaemon.policy.sensitive import ALL, NOTHING, Masked
from maildaemon.rewrite import rewrite
from maildaemon.textparts import is_text
from tests.conftest import CORPUS

pytestmark = pytest.mark.skipif(
    not (CORPUS / "index.tsv").is_file(),
    reason=f"the real-mail corpus is absent ({CORPUS}); this test reads it in place",
)

SAME = ("message_id", "from_addr", "to", "cc", "date", "in_reply_to", "references",
        "envelope_sender")


def corpus() -> list[Path]:
    rows = (CORPUS / "index.tsv").read_text().splitlines()[1:]
    return [CORPUS / row.split("\t")[0] for row in rows if row.strip()]


def capital_e(text: str, kinds: frozenset[str], html: bool) -> Masked:
    """Changes every text it is given, as masking would change one holding a card. Not an
    "e" right after an undecoded 8-bit byte: in a file name's raw bytes it can be the
    second half of a Big5 letter, where a digit, all the real rules change, never is."""
    if html or "e" not in text:
        return Masked(text, NOTHING)
    return Masked(re.sub("(?<![\udc80-\udcff])e", "E", text), frozenset({"card"}))


def e_only(after: str, before: str) -> bool:
    """Nothing changed but "e" to "E" (where the test masker chose to)."""
    return after.replace("E", "e") == before.replace("E", "e")


def test_nothing_in_the_corpus_is_masked() -> None:
    masked = [str(path.relative_to(CORPUS)) for path in corpus()
              if parse_mail(path.read_bytes()).removed is not None]
    assert masked == []


def test_masking_every_text_of_real_mail_breaks_nothing_else() -> None:
    broken: list[tuple[str, list[str]]] = []
    rewritten = changed = 0
    for path in corpus():
        raw = path.read_bytes()
        mail = parse_mail(raw, mask=NOTHING)
        base, msg = read_message(raw)
        # HTML parts are left as they are here (their text is another test's business).
        done = rewrite(base, msg, ALL, text_files(mail), lambda markup: "", capital_e)
        if done is None:
            continue
        rewritten += 1
        again = parse_mail(done[0], mask=NOTHING)
        problems = [field for field in SAME if getattr(again, field) != getattr(mail, field)]
        if not e_only(again.subject, mail.subject):
            problems.append(f"subject {again.subject[:60]!r}")
        if not e_only(again.text, mail.text):
            problems.append("text")
        changed += again.text != mail.text
        if len(again.attachments) != len(mail.attachments) or not all(
                e_only(after.filename, before.filename)
                for before, after in zip(mail.attachments, again.attachments, strict=False)):
            problems.append("files")
        for before, after in zip(mail.attachments, again.attachments, strict=False):
            text = is_text(before.detected_type) or before.detected_type == "message/rfc822"
            if after.sha256 != before.sha256 and not text:
                problems.append(f"file {before.filename} ({before.detected_type})")
        if problems:
            broken.append((str(path.relative_to(CORPUS)), problems))
    assert broken == []
    assert rewritten > 300 and changed > 240  # nearly every message has a text with an "e"
