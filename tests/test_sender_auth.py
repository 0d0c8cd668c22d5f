"""Issue 13, point 5: whose From address our MTA vouches for, read from its
Authentication-Results (authresults.py) and judged by policy/authenticity.py's table.

Tables: the verdict for headers as Postfix with OpenDKIM and OpenDMARC, rspamd, Gmail and
Fastmail write them; the headers that are not ours or not readable, which count as absent;
the real headers of the corpus (../shared/corpus), read in place.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maildaemon.authresults import MAX_READ, trusted_results
from maildaemon.domain import AuthResult, DmarcTrust
from maildaemon.parse import parse_mail
from maildaemon.policy.authenticity import aligned, sender_verdict
from tests.conftest import CORPUS, FIXTURES

OUR_MTA = "mx.healthsync.com"
TRUST = DmarcTrust(OUR_MTA, frozenset({"healthsync.com"}))


def raw_with(*headers: str, sender: str = "alice@example.org") -> bytes:
    top = "".join(f"Authentication-Results: {h}\r\n" for h in headers)
    return (f"{top}Received: from out.example.org by {OUR_MTA} (Postfix)\r\n"
            f"From: Alice <{sender}>\r\nTo: support@healthsync.com\r\n"
            "Subject: Re: [HS-111111] Invoice\r\nMessage-ID: <r1@example.org>\r\n\r\n"
            "Thanks!\r\n").encode()


def verdict(*headers: str, sender: str = "alice@example.org",
            trust: DmarcTrust = TRUST) -> tuple[bool, str] | None:
    mail = parse_mail(raw_with(*headers, sender=sender), dmarc_trust=trust)
    if mail.auth_results is None:
        return None
    return sender_verdict(mail.auth_results, mail.from_addr)


# -- the verdict, by the table in policy/authenticity.py ---------------------------------------

@pytest.mark.parametrize("headers, verified, why", [
    # OpenDMARC, run last, on top of OpenDKIM's and the SPF milter's headers.
    ((f"{OUR_MTA}; dmarc=pass (p=reject dis=none) header.from=example.org",
      f"{OUR_MTA}; dkim=pass header.d=example.org"), True, "dmarc=pass for example.org"),
    ((f"{OUR_MTA}; dmarc=fail (p=reject dis=none) header.from=example.org",
      f"{OUR_MTA}; spf=fail smtp.mailfrom=example.org"), False, "dmarc=fail for example.org"),
    # p=none still fails: the domain's owner only asked not to reject.
    ((f"{OUR_MTA}; dmarc=fail (p=none dis=none) header.from=example.org",), False,
     "dmarc=fail for example.org"),
    # rspamd: every result in one header.
    ((f"{OUR_MTA}; dkim=pass header.d=example.org header.s=s1 header.b=abc; "
      "spf=pass (mx.healthsync.com: domain of alice@example.org designates 192.0.2.1 as "
      "permitted sender) smtp.mailfrom=alice@example.org; dmarc=pass (policy=reject) "
      "header.from=example.org",), True, "dmarc=pass for example.org"),
    # A fail wins over a pass in the same header, and over an aligned DKIM pass.
    ((f"{OUR_MTA}; dmarc=pass header.from=example.org; dmarc=fail header.from=example.org",),
     False, "dmarc=fail"),
    ((f"{OUR_MTA}; dkim=pass header.d=example.org; dmarc=fail header.from=example.org",),
     False, "dmarc=fail"),
    # No DMARC policy published: an aligned DKIM or SPF pass proves the domain.
    ((f"{OUR_MTA}; dmarc=none header.from=example.org; dkim=pass header.d=example.org",),
     True, "dkim=pass for example.org, aligned with example.org"),
    ((f"{OUR_MTA}; dkim=pass header.i=@mail.example.org",), True,
     "dkim=pass for mail.example.org, aligned with example.org"),
    ((f"{OUR_MTA}; spf=pass smtp.mailfrom=bounces@example.org",), True,
     "spf=pass for example.org"),
    ((f"{OUR_MTA}; dmarc=temperror header.from=example.org; "
      "spf=pass smtp.mailfrom=example.org",), True, "spf=pass for example.org"),
    # Passes for someone else's domain prove nothing about this one.
    ((f"{OUR_MTA}; dkim=pass header.d=mailchimp.example; "
      "spf=pass smtp.mailfrom=bounce.mailchimp.example",), False,
     "no DMARC pass and no DKIM or SPF pass aligned with example.org"),
    ((f"{OUR_MTA}; dmarc=pass header.from=evil.example",), False, "no DMARC pass"),
    ((f"{OUR_MTA}; dkim=pass header.d=example.org.evil.example",), False, "no DMARC pass"),
    ((f"{OUR_MTA}; dkim=pass header.d=org",), False, "no DMARC pass"),
    ((f"{OUR_MTA}; spf=pass smtp.helo=example.org",), False, "no DMARC pass"),
    # The MTA looked and found nothing to vouch with.
    ((f"{OUR_MTA}; none",), False, "no results"),
    ((f"{OUR_MTA}; dmarc=none header.from=example.org",), False, "dmarc=none"),
    ((f"{OUR_MTA}; spf=neutral smtp.mailfrom=example.org; dkim=fail header.d=example.org",),
     False, "spf=neutral (example.org), dkim=fail (example.org)"),
    # A comment is no property: `(header.from=example.org)` proves nothing.
    ((f"{OUR_MTA}; dmarc=pass (header.from=example.org) header.from=evil.example",), False,
     "no DMARC pass"),
])
def test_the_verdict_on_our_mtas_header(headers: tuple[str, ...], verified: bool,
                                        why: str) -> None:
    found = verdict(*headers)
    assert found is not None
    assert found[0] is verified
    assert why in found[1]


@pytest.mark.parametrize("headers", [
    (),  # our MTA wrote none
    ("mx.google.com; dmarc=fail header.from=example.org",),  # a sender can write their own
    ("mx.healthsync.com.evil.example; dmarc=fail header.from=example.org",),
    ("evil.example mx.healthsync.com; dmarc=fail header.from=example.org",),
    # Microsoft 365 writes no authserv-id at all.
    ("spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=example.org; dmarc=fail "
     "action=none header.from=example.org;compauth=fail reason=000",),
    # Malformed: counts as absent.
    (f"{OUR_MTA}; dmarc=",),
    (f"{OUR_MTA}; dmarc=fail header.from=example.org (" + "(x" * 5000,),  # too long
    (f"{OUR_MTA} dmarc=fail header.from=example.org",),
    (f"{OUR_MTA}; dmarc=fail header.from=exa\"mple.org",),
    ("=?utf-8?q?mx.healthsync.com?=; dmarc=fail header.from=example.org",),
])
def test_a_header_not_ours_or_not_readable_counts_as_absent(headers: tuple[str, ...]) -> None:
    assert verdict(*headers) is None


def test_without_the_setting_nothing_is_read() -> None:
    raw = raw_with(f"{OUR_MTA}; dmarc=fail header.from=example.org")
    assert parse_mail(raw).auth_results is None
    assert parse_mail(raw, dmarc_trust=DmarcTrust("", TRUST.domains)).auth_results is None


def test_our_mtas_header_is_found_below_another_hops_and_above_the_senders() -> None:
    """An internal relay may add its own on top; a sender's forgery sits below ours."""
    found = verdict("filter.internal; spf=pass smtp.mailfrom=example.org",
                    f"{OUR_MTA}; dmarc=fail header.from=example.org",
                    f"{OUR_MTA}; dmarc=pass header.from=example.org")
    assert found == (False, "dmarc=fail for example.org")


def test_a_malformed_header_of_ours_is_passed_over_as_absent() -> None:
    """What is below it is the sender's: at most it says pass, which leaves the mail as
    no header at all would."""
    found = verdict(f"{OUR_MTA}; dmarc=", f"{OUR_MTA}; dmarc=fail header.from=example.org")
    assert found == (False, "dmarc=fail for example.org")


def test_only_the_first_few_headers_are_read() -> None:
    junk = tuple(f"{OUR_MTA}; dmarc=" for _ in range(MAX_READ))
    assert verdict(*junk, f"{OUR_MTA}; dmarc=fail header.from=example.org") is None
    values = [f"{OUR_MTA}; dmarc=pass header.from=example.org"] * 10_000
    assert trusted_results(values, OUR_MTA) == (AuthResult("dmarc", "pass", "example.org"),)


def test_the_authserv_id_is_compared_without_case() -> None:
    found = verdict("MX.HealthSync.COM; dmarc=fail header.from=Example.ORG")
    assert found == (False, "dmarc=fail for example.org")


@pytest.mark.parametrize("sender", ["", "alice", "alice@"])
def test_a_from_without_a_domain_is_never_verified(sender: str) -> None:
    assert sender_verdict((AuthResult("dmarc", "pass", ""),), sender) == (
        False, "the From address has no domain to authenticate")


@pytest.mark.parametrize("identity, domain, expected", [
    ("example.org", "example.org", True),
    ("mail.example.org", "example.org", True),
    ("example.org", "eu.mail.example.org", True),
    ("a.example.org", "b.example.org", False),  # siblings: unaligned without the PSL
    ("example.org.evil.example", "example.org", False),
    ("badexample.org", "example.org", False),
    ("org", "example.org", False),
    ("", "example.org", False),
])
def test_alignment(identity: str, domain: str, expected: bool) -> None:
    assert aligned(identity, domain) is expected


@pytest.mark.parametrize("name, verified", [
    ("auth_postfix_opendmarc.eml", True),  # dmarc=pass for healthsync.com on top
    ("auth_forged_below.eml", False),  # our dmarc=fail on top, a forged pass below
])
def test_the_staff_fixtures_read_the_same_for_any_sender(name: str, verified: bool) -> None:
    mail = parse_mail((FIXTURES / name).read_bytes(), dmarc_trust=TRUST)
    assert mail.auth_results is not None
    assert sender_verdict(mail.auth_results, mail.from_addr)[0] is verified


# -- the real headers of the corpus -----------------------------------------------------------

# Every corpus message with an Authentication-Results header, judged as if the authserv-id
# of its first one were ours: True verified, False unverified, None no readable header.
CORPUS_VERDICTS = {
    "flanker/bilingual-simple.eml": True,  # Gmail: spf=pass for the From domain
    "flanker/enclosed.eml": True,
    "flanker/enclosed-endless.eml": True,  # SPF passed for another address of the domain
    "flanker/iphone.eml": True,
    "flanker/russian-attachment-yahoo.eml": True,
    "mailpit/plain-text.eml": True,  # dmarc=pass for gmail.com, spf=pass for the From's
    "mailpit/mime-attachment.eml": True,
    "mikel-mail/error_emails/new_line_in_to_header.eml": True,
    "sisimai/bsd/lhost-googleworkspace-01.eml": True,  # dmarc=pass for googlemail.com
    "flanker/complaints/aol.eml": False,  # spf=neutral, for another domain
    "mikel-mail/error_emails/trademark_character_in_subject.eml": False,  # spf=neutral
    "mikel-mail/error_emails/weird_to_header.eml": False,
    "mikel-mail/plain_emails/basic_email.eml": False,
    "mikel-mail/plain_emails/raw_email_with_at_display_name.eml": False,
    "sisimai/bsd/lhost-amazonses-01.eml": False,  # sender-id=pass is neither DKIM nor SPF
    "sisimai/bsd/lhost-exim-01.eml": False,
    "sisimai/bsd/rhost-microsoft-01.eml": False,
    "sisimai/bsd/lhost-outlook-01.eml": False,  # spf=none, dkim=none
    "zammad/mail047.box": False,  # dkim=none
    "flanker/complaints/yahoo.eml": None,  # "from=example.com; domainkeys=pass": malformed
    "flanker/bounce/office365.eml": None,  # Microsoft: no authserv-id
    "mimekit/messages/bounce.txt": None,
    "mimekit/messages/issue358.txt": None,
    "zammad/mail035.box": None,
    "sisimai/bsd/lhost-office365-01.eml": None,  # quoted-printable inside a report
    "mimekit/messages/feedback-report.txt": None,  # inside the report, not a header
    "sisimai/bsd/arf-02.eml": None,  # an empty one
}
FIRST_ID = re.compile(rb"(?im)^Authentication-Results:[ \t]*([^;\s]*)")


def corpus_with_headers() -> list[Path]:
    rows = (CORPUS / "index.tsv").read_text().splitlines()[1:]
    paths = [CORPUS / row.split("\t")[0] for row in rows if row.strip()]
    return [p for p in paths if FIRST_ID.search(p.read_bytes())]


@pytest.mark.skipif(not (CORPUS / "index.tsv").is_file(),
                    reason=f"the real-mail corpus is absent ({CORPUS}); read in place")
def test_the_corpus_headers_judged_as_if_their_mta_were_ours() -> None:
    found: dict[str, bool | None] = {}
    for path in corpus_with_headers():
        raw = path.read_bytes()
        match = FIRST_ID.search(raw)
        assert match is not None
        mail = parse_mail(raw, dmarc_trust=DmarcTrust(match.group(1).decode()))
        found[str(path.relative_to(CORPUS))] = None if mail.auth_results is None else \
            sender_verdict(mail.auth_results, mail.from_addr)[0]
        # Nobody in the corpus is our MTA: with our own id, every header is ignored.
        assert parse_mail(raw, dmarc_trust=TRUST).auth_results is None
    assert found == CORPUS_VERDICTS
