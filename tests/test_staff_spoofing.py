"""Issue 18, point 5: a staff From address proves nothing without our MTA's DMARC pass.

Anyone can write `From: it-desk@healthsync.com` and `Re: [HS-x]`; relaying their text to the
customer as our agent's answer is phishing signed by our relay. Only the FIRST
Authentication-Results header counts, and only with the configured authserv-id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maildaemon.domain import DmarcTrust
from maildaemon.parse import parse_mail
from tests.conftest import FIXTURES, Installation, header_of, mail, wait_until

OUR_MTA = "mx.healthsync.com"
TRUST = DmarcTrust(OUR_MTA, frozenset({"healthsync.com"}))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# -- reading Authentication-Results (parse.py, authresults.py) -------------------------------

def test_postfix_opendkim_opendmarc_pass_proves_the_staff_domain() -> None:
    mail_ = parse_mail(fixture("auth_postfix_opendmarc.eml"), dmarc_trust=TRUST)
    assert mail_.from_addr == "sam@healthsync.com"
    assert mail_.dmarc_pass_domain == "healthsync.com"


def test_authserv_id_is_compared_without_case() -> None:
    trust = DmarcTrust("MX.HealthSync.com", TRUST.domains)
    assert parse_mail(fixture("auth_postfix_opendmarc.eml"), dmarc_trust=trust
                      ).dmarc_pass_domain == "healthsync.com"


def test_a_pass_forged_below_our_mtas_fail_does_not_count() -> None:
    mail_ = parse_mail(fixture("auth_forged_below.eml"), dmarc_trust=TRUST)
    assert mail_.from_addr == "it-desk@healthsync.com"
    assert mail_.dmarc_pass_domain == ""


@pytest.mark.parametrize("name", ["auth_gmail.eml", "auth_outlook.eml", "auth_fastmail.eml"])
def test_another_providers_verdict_is_not_ours(name: str) -> None:
    """Gmail, Microsoft 365 and Fastmail all say dmarc=pass; none of them is our MTA."""
    assert parse_mail(fixture(name), dmarc_trust=TRUST).dmarc_pass_domain == ""


def test_fastmails_header_reads_when_it_is_the_trusted_front_door() -> None:
    """authres reads Fastmail's long header (policy.* properties, x- methods) correctly."""
    trust = DmarcTrust("mx6.messagingengine.com", TRUST.domains)
    assert parse_mail(fixture("auth_fastmail.eml"), dmarc_trust=trust
                      ).dmarc_pass_domain == "healthsync.com"


def test_gmails_header_reads_when_it_is_the_trusted_front_door() -> None:
    trust = DmarcTrust("mx.google.com", TRUST.domains)
    assert parse_mail(fixture("auth_gmail.eml"), dmarc_trust=trust
                      ).dmarc_pass_domain == "healthsync.com"


def test_microsofts_header_has_no_authserv_id_and_is_never_trusted() -> None:
    trust = DmarcTrust("spf=pass", TRUST.domains)
    assert parse_mail(fixture("auth_outlook.eml"), dmarc_trust=trust).dmarc_pass_domain == ""


@pytest.mark.parametrize("header", [
    "mx.healthsync.com; dmarc=pass header.from=healthsync.com.evil.example",
    "mx.healthsync.com; dmarc=pass header.from=evil.example",
    "mx.healthsync.com; dmarc=pass smtp.mailfrom=healthsync.com",
    "mx.healthsync.com; dmarc=fail header.from=healthsync.com; "
    "dmarc=pass header.from=healthsync.com",
    "mx.healthsync.com; dmarc=pass (header.from=healthsync.com) header.from=evil.example",
    "mx.healthsync.com; dkim=pass header.d=healthsync.com",
    "mx.healthsync.com.evil.example; dmarc=pass header.from=healthsync.com",
    "mx.healthsync.com; dmarc=pass header.from=healthsync.com (" + "(x" * 3000,
    "mx.healthsync.com; none",
    "=?utf-8?q?mx.healthsync.com?=; dmarc=pass header.from=healthsync.com",
])
def test_anything_but_our_pass_for_the_from_domain_proves_nothing(header: str) -> None:
    raw = (f"Authentication-Results: {header}\r\nFrom: it-desk@healthsync.com\r\n"
           "Subject: x\r\n\r\nbody\r\n").encode()
    assert parse_mail(raw, dmarc_trust=TRUST).dmarc_pass_domain == ""


def test_nothing_is_trusted_without_an_authserv_id() -> None:
    raw = fixture("auth_postfix_opendmarc.eml")
    assert parse_mail(raw).dmarc_pass_domain == ""
    assert parse_mail(raw, dmarc_trust=DmarcTrust("", TRUST.domains)).dmarc_pass_domain == ""


def test_customer_mail_is_not_checked_at_all() -> None:
    """The staff proof is read for the staff domains only; any sender's verdict is a
    separate reading (auth_results, test_sender_auth.py)."""
    raw = fixture("auth_postfix_opendmarc.eml").replace(b"healthsync.com", b"example.org")
    trust = DmarcTrust("mx.example.org", TRUST.domains)
    assert parse_mail(raw, dmarc_trust=trust).dmarc_pass_domain == ""


# -- end to end: the daemon, its config, a customer and a spoofer ----------------------------

def staff_installation(tmp: Path, authserv_id: str = OUR_MTA) -> Installation:
    inst = Installation(tmp, extra_config='[staff]\ndomains = ["healthsync.com"]\n'
                                          'addresses = ["boss@partner.example"]\n')
    inst.config.write_text(inst.config.read_text().replace(
        "[mail]\n", f'[mail]\ntrusted_authserv_id = "{authserv_id}"\n'))
    return inst


def outbox_settled(inst: Installation) -> list[dict[str, object]]:
    wait_until(lambda: json.loads(inst.cli("outbox", "ls", "--json").stdout) == [], 20,
               "nothing pending in the outbox")
    return list(json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout))


def open_ticket(inst: Installation) -> tuple[str, bytes]:
    inst.send(mail(sender="cust@example.org", subject="Cannot log in"))
    [ticket] = inst.wait_processed(1)
    [ack] = wait_until(lambda: inst.outbound(), 20, "the acknowledgement")
    return str(ticket["number"]), ack


@pytest.mark.slow
@pytest.mark.parametrize("sender, forged", [
    ("it-desk@healthsync.com", ""),
    ("it-desk@healthsync.com", "evil.example; dmarc=pass header.from=healthsync.com"),
    ("boss@partner.example", ""),
])
def test_a_spoofed_staff_address_is_not_relayed_to_the_customer(
        tmp_path: Path, sender: str, forged: str) -> None:
    inst = staff_installation(tmp_path)
    inst.start()
    try:
        number, ack = open_ticket(inst)
        extra = {"Authentication_Results": forged} if forged else {}
        phish = mail(sender=sender, subject=f"Re: [{number}] Cannot log in",
                     In_Reply_To=header_of(ack, "Message-ID"),
                     body="Reset it at https://healthsync-login.example.net/", **extra)
        inst.send(phish, sender=sender)
        tickets = inst.wait_processed(2)
        rows = outbox_settled(inst)
    finally:
        inst.kill()
    assert [r["kind"] for r in rows if r["kind"] == "agent_reply"] == []
    customer_mail = [raw for raw in inst.outbound() if b"\nTo: cust@example.org" in raw]
    assert len(customer_mail) == 1 and b"healthsync-login" not in customer_mail[0]
    new = next(t for t in tickets if t["number"] != number)
    shown = inst.show(new["number"])
    assert shown["requester"] == sender
    original = inst.show(number)
    assert original["status"] == "new"
    events = json.dumps(shown) + json.dumps(original)
    assert "staff_unverified" in events and "linked to " + number in events


@pytest.mark.slow
def test_proven_staff_is_still_relayed(tmp_path: Path) -> None:
    """The positive side: our MTA's DMARC pass for the staff domain, on top."""
    inst = staff_installation(tmp_path)
    inst.start()
    try:
        number, ack = open_ticket(inst)
        answer = mail(sender="sam@healthsync.com", subject=f"Re: [{number}] Cannot log in",
                      In_Reply_To=header_of(ack, "Message-ID"),
                      Authentication_Results=f"{OUR_MTA}; dmarc=pass (p=reject dis=none) "
                                             "header.from=healthsync.com",
                      body="Please reset your password in the app.")
        inst.send(answer, sender="sam@healthsync.com")
        wait_until(lambda: any(r["kind"] == "agent_reply" for r in outbox_settled(inst)),
                   20, "the relayed answer")
    finally:
        inst.kill()
    [relayed] = [raw for raw in inst.outbound() if b"Please reset your password" in raw]
    assert header_of(relayed, "To") == "cust@example.org"
    assert len(inst.tickets()) == 1
