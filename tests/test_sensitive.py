"""What counts as sensitive data and how it is masked (policy/sensitive.py, numbers.py,
passwords.py): tables of what customers write, masked and left alone."""

from __future__ import annotations

import time

import pytest

from maildaemon.policy.numbers import luhn
from maildaemon.policy.passwords import LABELS, STEMS
from maildaemon.policy.sensitive import ALL, CARD, NOTHING, PASSWORD, SSN, mask, names
from maildaemon.render import environment, sample_variables
from tests.conftest import HANG_GUARD_SECONDS

MASKED = [
    # cards: Visa, Mastercard (5 and 2), Amex, Discover, Diners, JCB test numbers
    ("My card is 4111 1111 1111 1111, please refund.",
     "My card is **** **** **** 1111, please refund.", {CARD}),
    ("card 4111-1111-1111-1111 exp 12/27", "card ****-****-****-1111 exp 12/27", {CARD}),
    ("4111111111111111", "************1111", {CARD}),
    ("MC 5555 5555 5555 4444", "MC **** **** **** 4444", {CARD}),
    ("2223003122003222 is my new card", "************3222 is my new card", {CARD}),
    ("Amex 3782 822463 10005 ok", "Amex **** ****** *0005 ok", {CARD}),
    ("Discover: 6011111111111117.", "Discover: ************1117.", {CARD}),
    ("Diners 3056 930902 5904", "Diners **** ****** 5904", {CARD}),
    ("JCB 3530111333300000", "JCB ************0000", {CARD}),
    ("19 digits 4111 1111 1111 1111 003", "19 digits **** **** **** ***1 003", {CARD}),
    ("4111 1111 1111 1111 123 (CVV behind it)", "**** **** **** 1111 123 (CVV behind it)",
     {CARD}),
    ("ref A12 4111 1111 1111 1111", "ref A12 **** **** **** 1111", {CARD}),
    ("name,card\nanna,5555 5555 5555 4444\n", "name,card\nanna,**** **** **** 4444\n",
     {CARD}),
    ("Karte 4111\u00a01111\u00a01111\u00a01111", "Karte ****\u00a0****\u00a0****\u00a01111",
     {CARD}),
    ("カード ４１１１ １１１１ １１１１ １１１１", "カード **** **** **** １１１１", {CARD}),
    # social security numbers
    ("SSN 123-45-6789", "SSN ***-**-****", {SSN}),
    ("my social security number is 123-45-6789.", "my social security number is ***-**-****.",
     {SSN}),
    ("ssn: 123456789", "ssn: *********", {SSN}),
    ("Social Security Number is 123 45 6789", "Social Security Number is *** ** ****", {SSN}),
    ("anna,123-45-6789", "anna,***-**-****", {SSN}),
    # passwords and PINs
    ("Password: hunter2", "Password: ********", {PASSWORD}),
    ("Password: sunshine", "Password: ********", {PASSWORD}),
    ("Username: bob  Password: s3cr3t!", "Username: bob  Password: ********", {PASSWORD}),
    ("password = Tr0ub4dor&3 (old one)", "password = ******** (old one)", {PASSWORD}),
    ("my password is Summer2024! and it fails", "my password is ******** and it fails",
     {PASSWORD}),
    ("My PIN is 4821.", "My PIN is ********.", {PASSWORD}),
    ("the password is 'swordfish'", "the password is '********'", {PASSWORD}),
    ('{"user": "bob", "password": "s3cret"}', '{"user": "bob", "password": "********"}',
     {PASSWORD}),
    ("PIN (new): 9913", "PIN (new): ********", {PASSWORD}),
    ("Passwort: geheim", "Passwort: ********", {PASSWORD}),
    ("Mein Kennwort ist Hallo2024", "Mein Kennwort ist ********", {PASSWORD}),
    ("Mot de passe : Bonjour123", "Mot de passe : ********", {PASSWORD}),
    ("Mi contraseña es Gato2024", "Mi contraseña es ********", {PASSWORD}),
    ("Minha senha é Casa2024!", "Minha senha é ********", {PASSWORD}),
    ("Wachtwoord: tulp99", "Wachtwoord: ********", {PASSWORD}),
    ("Hasło: Kot12345", "Hasło: ********", {PASSWORD}),
    ("Пароль: qwerty123", "Пароль: ********", {PASSWORD}),
    ("パスワード：abc123", "パスワード：********", {PASSWORD}),
    ("İstanbul ofisi, Password: abc123", "İstanbul ofisi, Password: ********", {PASSWORD}),
    # all three
    ("Card 4111111111111111, SSN 123-45-6789, PIN: 1234",
     "Card ************1111, SSN ***-**-****, PIN: ********", {CARD, SSN, PASSWORD}),
]

LEFT_ALONE = [
    "Order 1234567890123 shipped",  # fails Luhn
    "Order 4111111111111112 shipped",  # fails Luhn by one digit
    "Amazon order 112-4567890-1234567",  # not grouped as cards are
    "1700000000123 is the timestamp in the log",  # Luhn-valid, but starts with 1
    "7992739871300 loyalty number",  # Luhn-valid, starts with 7
    "id 41111111111111111111111 in the log",  # 23 digits: a long id
    "IBAN DE89 3704 0044 0532 0130 00",  # the country code goes first
    "abc4111111111111111",  # glued to a word
    "4111111111111111abc",
    "pi is 3.4111111111111111",  # a decimal
    "call 030 12 3456",  # 3-2-4 spaced without "SSN"
    "id 123-45-67890",  # not 3-2-4
    "SSN 000-12-3456 is not a number anyone has",  # area 000
    "666-12-3456",  # area 666
    "987-65-4321",  # area 900-999
    "my password is wrong",
    "my password is not working since yesterday",
    "password: reset link doesn't work",
    "I forgot my password.",
    "Password: ********",  # masked already
    "Password: n/a",
    "shipping, opinion, pinned, compass, passed",
    "Passwörter: abc",  # another word
    "Hello, nothing here at all.",
    "",
]


@pytest.mark.parametrize(("text", "masked", "kinds"), MASKED, ids=[t[0][:30] for t in MASKED])
def test_masked(text: str, masked: str, kinds: set[str]) -> None:
    result = mask(text)
    assert result.text == masked
    assert result.kinds == frozenset(kinds)
    assert mask(result.text).kinds == NOTHING  # masking twice finds nothing the second time


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_left_alone(text: str) -> None:
    assert mask(text) == (text, NOTHING)


def test_only_the_kinds_asked_for_are_masked() -> None:
    text = "Card 4111111111111111, SSN 123-45-6789, PIN: 1234"
    assert mask(text, frozenset({SSN})) == ("Card 4111111111111111, SSN ***-**-****, PIN: 1234",
                                            frozenset({SSN}))
    assert mask(text, NOTHING) == (text, NOTHING)
    assert mask(text).kinds == ALL


def test_html_source_is_masked_around_its_markup() -> None:
    assert mask("<p>4111&nbsp;1111&nbsp;1111&nbsp;1111</p>", html=True).text == \
        "<p>****&nbsp;****&nbsp;****&nbsp;1111</p>"
    assert mask("<td>Password:</td><td>hunter2</td>", html=True).text == \
        "<td>Password:</td><td>********</td>"
    assert mask('<p>Password: <b>sunshine</b> please reset</p>', html=True).text == \
        '<p>Password: <b>********</b> please reset</p>'


def test_luhn() -> None:
    assert luhn("4111111111111111") and luhn("378282246310005") and luhn("79927398713")
    assert not luhn("4111111111111112") and not luhn("1234567890123")


def test_every_label_has_a_stem_the_check_looks_for() -> None:
    for label in LABELS:
        assert any(stem in label for stem in STEMS), label


def test_names_keep_their_order() -> None:
    assert names(frozenset({PASSWORD, CARD})) == ["card number", "password or PIN"]


def test_our_own_notice_quoted_back_holds_nothing() -> None:
    """A customer who answers the notice quotes it: it must not be taken for data."""
    env = environment()
    for kind in ("txt", "html"):
        text = env.get_template(f"sensitive_data.{kind}").render(
            number="HS-123456", queue="support", queue_address="support@healthsync.com",
            subject="[HS-123456] Refund", ticket_subject="Refund", domain="healthsync.com",
            **sample_variables())
        quoted = "\n".join("> " + line for line in text.splitlines())
        assert mask(quoted, html=kind == "html").kinds == NOTHING


@pytest.mark.parametrize("hostile", [
    "1" * 200_000 + "x",  # a digit run that fails at its end
    "4 " * 100_000,  # a run of single digits
    "4111 " * 50_000,  # a run of card-like groups
    "password: " * 50_000,  # labels without values
    "pin " * 100_000,
    "SSN " + "123-45-" * 30_000,
    "&nbsp;" * 50_000 + "4111" * 1000,
])
def test_hostile_text_ends(hostile: str) -> None:
    started = time.monotonic()
    mask(hostile)
    mask(hostile, html=True)
    assert time.monotonic() - started < HANG_GUARD_SECONDS
