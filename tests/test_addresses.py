"""Plain address lists are read directly, and exactly as the stdlib reads them.

`headers.plain_addresses` answers for lists of plain mailboxes and declines (None) the
rest, which then go through `email.utils.getaddresses`. Whenever it answers, the answer
must be what getaddresses returns for the same field.
"""

from __future__ import annotations

from email.utils import getaddresses

from hypothesis import given, settings
from hypothesis import strategies as st

from maildaemon.headers import plain_addresses

ATEXT = "abcXYZ019!#$%&'*+-/=?^_`{|}~"
atom = st.text(ATEXT, min_size=1, max_size=6)
dot_atom = st.lists(atom, min_size=1, max_size=3).map(".".join)
address = st.builds(lambda local, domain: f"{local}@{domain}", dot_atom, dot_atom)
word = st.one_of(st.text("abcJörg.=?_-'\u00a0\x0b", min_size=1, max_size=8),
                 st.sampled_from(["=?utf-8?q?J=C3=B6rg?=", "J.", "Customer", "O'Brien"]))
space = st.sampled_from([" ", "  ", "\t", "\r\n ", ""])
name = st.lists(word, min_size=1, max_size=3).flatmap(
    lambda words: space.map(lambda gap: (gap or " ").join(words)))
plain_mailbox = st.one_of(
    address, st.builds(lambda n, gap, a: f"{n}{gap}<{a}>", name, space, address))
mailbox = st.one_of(
    plain_mailbox,
    # Near misses, for which it must decline or agree.
    st.sampled_from(["Jo\\ <j@x.org>", '"Smith, J" <j@x.org>', "j@x.org (Jo)", "<j@x.org>",
                     "Jo <j@[1.2.3.4]>",
                     "undisclosed-recipients:;", "Jo <@r:j@x.org>", "j..k@x.org", "Jo<j@x",
                     "j@x@y", "", " ", "Jo <>", "<j@x.org> Jo", "Jo (c) <j@x.org>"]),
)
separators = st.lists(st.sampled_from([",", ", ", " ,", ",\r\n\t"]), min_size=4, max_size=4)


def joined(boxes: list[str], seps: list[str]) -> str:
    return "".join(box + sep for box, sep in zip(boxes, seps, strict=False)).rstrip(", \r\n\t")


field = st.builds(joined, st.lists(mailbox, min_size=1, max_size=4), separators)
plain_field = st.builds(joined, st.lists(plain_mailbox, min_size=1, max_size=4), separators)


@settings(max_examples=800, deadline=None)
@given(value=st.one_of(field, field.map(lambda f: f + ",")))
def test_whenever_it_answers_it_answers_as_getaddresses(value: str) -> None:
    ours = plain_addresses(value)
    if ours is not None:
        assert ours == getaddresses([value])


@settings(max_examples=400, deadline=None)
@given(value=plain_field)
def test_it_answers_for_every_list_of_plain_mailboxes(value: str) -> None:
    assert plain_addresses(value) == getaddresses([value])


def test_it_answers_for_the_usual_fields() -> None:
    assert plain_addresses("Customer 5 <c5.run@example.org>") == [
        ("Customer 5", "c5.run@example.org")]
    assert plain_addresses("support@healthsync.com, =?utf-8?q?J=C3=B6rg?= <j@x.de>") == [
        ("", "support@healthsync.com"), ("=?utf-8?q?J=C3=B6rg?=", "j@x.de")]
    assert plain_addresses('"Smith, J" <j@x.org>') is None
    assert plain_addresses("j@x.org (Jo)") is None
