"""The edge's fast reading of MAIL FROM / RCPT TO paths agrees with aiosmtpd's own parser.

`EdgeSMTP._getaddr` skips the email package's RFC 5322 parser for a plain `<local@domain>`;
for every argument, plain or not, it must return what aiosmtpd's parser returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from maildaemon.smtp_in import PLAIN_PATH, EdgeSMTP, GroupCommitter, Handler

ATEXT = "abcXYZ019!#$%&'*+-/=?^_`{|}~"
atom = st.text(ATEXT, min_size=1, max_size=8)
dot_atom = st.lists(atom, min_size=1, max_size=3).map(".".join)
plain = st.builds(lambda local, domain: f"<{local}@{domain}>", dot_atom, dot_atom)
rest = st.sampled_from(["", " SIZE=2048", "  BODY=8BITMIME SMTPUTF8", "\tSIZE=1", "x",
                        " (comment) SIZE=1", "(c)", " ", " \r\n"])
# Near misses: each must fall through to aiosmtpd's parser and still agree with it.
odd = st.sampled_from(["<>", "<a..b@c>", "<.a@b>", "<a@b.>", "< a@b>", "<a@b >",
                       '<"q t"@b>', "<a@[127.0.0.1]>", "<@r.example:a@b>", "a@b", "<a@b",
                       "<a(c)@b>", "<é@b>", "<a@b@c>", "<a@>", "<@b>", ""])


@pytest.fixture(scope="module")
def edge() -> Iterator[EdgeSMTP]:
    loop = asyncio.new_event_loop()
    handler = Handler(None, GroupCommitter(None))  # type: ignore[arg-type]
    yield EdgeSMTP(handler, set(), loop=loop)
    loop.close()


def aiosmtpd_reads(edge: EdgeSMTP, arg: str) -> tuple[str | None, str | None]:
    return SMTP._getaddr(edge, arg)


@settings(max_examples=400, deadline=None)
@given(path=st.one_of(plain, odd), after=rest)
def test_fast_path_returns_what_aiosmtpd_returns(edge: EdgeSMTP, path: str,
                                                 after: str) -> None:
    arg = path + after
    assert edge._getaddr(arg) == aiosmtpd_reads(edge, arg)


def test_plain_paths_take_the_fast_path_and_others_do_not() -> None:
    assert PLAIN_PATH.match("<c1.run@example.org> SIZE=2048")
    for arg in ("<>", '<"q t"@b>', "<a@[127.0.0.1]>", "<a..b@c>", "< a@b>", "<é@b>"):
        assert not PLAIN_PATH.fullmatch(arg), arg


def test_local_part_limit_is_kept(edge: EdgeSMTP, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge, "local_part_limit", 64)
    for local, expected in (("a" * 64, "a" * 64 + "@example.org"), ("a" * 65, None)):
        arg = f"<{local}@example.org>"
        assert edge._getaddr(arg)[0] == expected
        assert edge._getaddr(arg) == aiosmtpd_reads(edge, arg)
