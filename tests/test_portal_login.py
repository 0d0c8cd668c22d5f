"""Logging in to the portal by a link in the mail (issue 19, 3), over real HTTP against a
running serve: the same answer for every address, the link by mail to a known customer
only, single use, expiry, CSRF, the rate limit per address, logging out, and no address in
the log."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.conftest import DOMAIN, check_config, mail, wait_until
from tests.portal_support import PortalInstallation, csrf_of

KNOWN = "olga.berg@example.org"      # opened a ticket by mail
COPIED = "piet.jansen@example.net"   # copied on it: a participant
DIRECTORY = "kai.weber@example.de"   # in the customer directory, no ticket
UNKNOWN = "nobody.here@example.com"  # never wrote to us
SENT = ("If we know this address, a link to your tickets is on its way."
        " It works once, for 30 minutes.")
LINK = re.compile(r"http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_-]+")


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalInstallation]:
    """One serve for the module, with one ticket: opened by KNOWN, COPIED in Cc; and
    DIRECTORY in the customer directory."""
    inst = PortalInstallation(tmp_path_factory.mktemp("login"))
    inst.start()
    try:
        inst.cli("customers", "set", DIRECTORY, "premium")
        inst.send(mail(subject="Heart rate graph is empty", sender=KNOWN, Cc=COPIED))
        inst.wait_processed(1)
        yield inst
    finally:
        inst.kill()


def mails_to(inst: PortalInstallation, address: str) -> list[EmailMessage]:
    found = []
    for raw in inst.outbound():
        message = message_from_bytes(raw, policy=policy.default)
        login = str(message["Message-ID"]).startswith("<login.")
        if login and address.lower() in str(message["To"]).lower():
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def wait_for_links(inst: PortalInstallation, address: str, count: int) -> list[str]:
    """The links of the first `count` login mails to `address`, once they are delivered."""
    def delivered() -> list[EmailMessage] | None:
        found = mails_to(inst, address)
        return found if len(found) >= count else None

    found: list[EmailMessage] = wait_until(delivered, 30, f"{count} login mails")
    links = []
    for message in found[:count]:
        body = message.get_body(("plain",))
        assert body is not None
        links.append(LINK.findall(body.get_content())[0])
    return links


def log_count(inst: PortalInstallation, line: str) -> int:
    return inst.log.read_text(errors="replace").count(line)


def settle(inst: PortalInstallation, line: str, before: int) -> None:
    """Wait until the login's background work logged `line` once more than `before`, and
    the outbox has nothing pending: whatever it queued has been delivered."""
    wait_until(lambda: log_count(inst, line) > before, 15, line)
    wait_until(lambda: json.loads(inst.cli("outbox", "ls", "--json").stdout) == [], 30,
               "an empty outbox")


def ask_for_link(client: httpx.Client, address: str) -> httpx.Response:
    form = client.get("/login")
    assert form.status_code == 200
    return client.post("/login", data={"email": address, "csrf": csrf_of(form.text)})


def assert_not_logged(inst: PortalInstallation, *addresses: str) -> None:
    """Neither the portal nor the login mail's delivery names any of `addresses`; one that
    is nobody's ticket is nowhere in the log (a ticket's address is, where the worker
    logs the mail that opened it)."""
    lines = inst.log.read_text(errors="replace").lower().splitlines()
    for address in addresses:
        naming = [line for line in lines if address.lower() in line]
        assert not [line for line in naming if "login" in line or "portal" in line]
        if address in (UNKNOWN, DIRECTORY):
            assert naming == []


def test_check_config_renders_the_login_mail(tmp_path: Path) -> None:
    """Shipped, it renders with the other templates; an operator's broken copy is named."""
    folder = tmp_path / "templates"
    folder.mkdir()
    data = f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
    assert check_config(tmp_path, data).returncode == 0
    (folder / "portal_login.txt").write_text("Your link: {{ login_link }}\n")
    refused = check_config(tmp_path, data + f'[templates]\ndirectory = "{folder}"\n')
    assert refused.returncode == 78 and "portal_login.txt" in refused.stderr
    (folder / "portal_login.txt").write_text("Your link: {{ login_url }} ({{ valid_for }})\n")
    assert check_config(tmp_path, data + f'[templates]\ndirectory = "{folder}"\n'
                        ).returncode == 0


@pytest.mark.slow
def test_the_form_is_a_labelled_email_field_with_csrf(portal: PortalInstallation) -> None:
    with portal.client() as client:
        page = client.get("/login")
        assert page.status_code == 200
        assert '<label for="email">' in page.text
        assert re.search(r'<input type="email" id="email" name="email" autocomplete="email"',
                         page.text)
        assert re.search(r'<input type="hidden" name="csrf" value="[0-9a-f]{64}">', page.text)
        assert re.search(r'<button type="submit">Send me a link</button>', page.text)
        root = client.get("/")
        assert (root.status_code, root.headers["location"]) == (303, "/tickets")


@pytest.mark.slow
def test_a_known_customer_gets_a_link_that_works_once(portal: PortalInstallation) -> None:
    with portal.client() as client:
        answer = ask_for_link(client, KNOWN)
        assert answer.status_code == 200 and SENT in answer.text
    link, = wait_for_links(portal, KNOWN, 1)
    message = mails_to(portal, KNOWN)[0]
    assert message["From"].addresses[0].addr_spec == f"support@{DOMAIN}"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert re.fullmatch(rf"<login\.[0-9a-f]+@{re.escape(DOMAIN)}>", message["Message-ID"])
    assert message["Subject"] and message["Date"]
    html = message.get_body(("html",))
    assert html is not None and link in html.get_content()

    with portal.client() as browser:
        followed = browser.get(link)
        assert (followed.status_code, followed.headers["location"]) == (303, "/tickets")
        cookie = next(c for c in followed.headers.get_list("set-cookie")
                      if c.startswith("hs_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        again = browser.get("/login")  # with a session: straight to the tickets
        assert (again.status_code, again.headers["location"]) == (303, "/tickets")

        reused = browser.get(link)
        assert reused.status_code == 200
        assert "This link has already been used" in reused.text
        assert 'name="email"' in reused.text  # the form to ask for a new one

        out = browser.post("/logout", data={"csrf": csrf_of(reused.text)})
        assert out.status_code == 200 and "You are logged out." in out.text
        assert browser.get("/login").status_code == 200  # no session any more
    assert_not_logged(portal, KNOWN)


@pytest.mark.slow
def test_an_unknown_address_gets_the_same_page_and_no_mail(portal: PortalInstallation) -> None:
    nobody = "portal login: no customer has the address asked for"
    before = log_count(portal, nobody)
    with portal.client() as client:
        unknown = ask_for_link(client, UNKNOWN)
        known = ask_for_link(client, COPIED)  # a participant: known
    assert unknown.status_code == known.status_code == 200
    assert unknown.text == known.text and SENT in unknown.text
    settle(portal, nobody, before)
    assert mails_to(portal, UNKNOWN) == []
    wait_for_links(portal, COPIED, 1)
    assert_not_logged(portal, UNKNOWN, COPIED)


@pytest.mark.slow
def test_a_malformed_address_gets_a_hint(portal: PortalInstallation) -> None:
    with portal.client() as client:
        answer = ask_for_link(client, "olga at example")
    assert answer.status_code == 200
    assert "That is not an email address" in answer.text and SENT not in answer.text


@pytest.mark.slow
def test_an_expired_link_says_so(portal: PortalInstallation) -> None:
    with portal.client() as client:
        ask_for_link(client, KNOWN)
    link = wait_for_links(portal, KNOWN, 2)[1]
    token = link.rsplit("/", 1)[1][:-22]  # as stored: without the link's signature
    with sqlite3.connect(portal.tmp / "data" / "maildaemon.sqlite3") as db:
        changed = db.execute("UPDATE portal_logins SET expires_at = '2020-01-01T00:00:00Z'"
                             " WHERE token_hash = ?",
                             (hashlib.sha256(token.encode()).hexdigest(),)).rowcount
    assert changed == 1
    with portal.client() as browser:
        answer = browser.get(link)
        assert answer.status_code == 200
        assert "This link has expired (links work for 30 minutes)" in answer.text
        assert "hs_session" not in answer.headers.get("set-cookie", "")
        for made_up in ("not-a-token-we-made", token + "A" * 22):
            bogus = browser.get("/login/" + made_up)
            assert bogus.status_code == 200 and "This link is not valid" in bogus.text


@pytest.mark.slow
def test_a_form_without_its_csrf_field_is_refused(portal: PortalInstallation) -> None:
    with portal.client() as client:
        assert client.post("/login", data={"email": KNOWN}).status_code == 403  # no cookie
        client.get("/login")
        assert client.post("/login", data={"email": KNOWN}).status_code == 403
        assert client.post("/login", data={"email": KNOWN, "csrf": "0" * 64}
                           ).status_code == 403
        assert client.post("/logout", data={"csrf": "0" * 64}).status_code == 403


@pytest.mark.slow
def test_the_sixth_link_within_the_window_is_not_sent(portal: PortalInstallation) -> None:
    over = "portal login: over login_address"
    before = log_count(portal, over)
    answers = []
    with portal.client() as client:
        for _ in range(6):
            answers.append(ask_for_link(client, DIRECTORY.upper()))  # one address, any case
    assert all(a.status_code == 200 and a.text == answers[0].text for a in answers)
    assert SENT in answers[0].text
    wait_for_links(portal, DIRECTORY, 5)
    settle(portal, over, before)
    assert len(mails_to(portal, DIRECTORY)) == 5
    assert_not_logged(portal, DIRECTORY, COPIED, KNOWN, UNKNOWN)
