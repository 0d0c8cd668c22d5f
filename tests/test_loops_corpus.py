"""Every automatic message of the real-mail corpus is classified automatic, with the right
kind; no person's message is (policy/loops.py). Driven by ../shared/corpus in place.

The table below was made by reading each message's headers and body, not by running the
classifier: the corpus index's categories are a heuristic (a bounce that quotes an
out-of-office is labelled both), so they are only cross-checked, for the categories that
name what a message is at its top (its `primary_category`). Every message not in the table
is a person's (or a spammer posing as one) and must not be classified automatic at all.
Skipped, with the reason, where the corpus is absent.
"""

from __future__ import annotations

import pytest

from maildaemon.config import config_from_dict
from maildaemon.parse import parse_mail
from maildaemon.policy.loops import classify
from maildaemon.worker import policy_settings
from tests.conftest import CORPUS

pytestmark = pytest.mark.skipif(
    not (CORPUS / "index.tsv").is_file(),
    reason=f"the real-mail corpus is absent ({CORPUS}); this test reads it in place",
)

SETTINGS = policy_settings(config_from_dict({}))

# file -> kind. Bounces from ~35 mail servers (RFC 3464 reports and the failure notices of
# Exim, qmail, Exchange 2003, Domino, Notes, Gmail's old format), out-of-office replies,
# list and bulk mail, feedback reports, a read receipt, machine notices.
AUTOMATIC = {
    "cpython/msg_02.txt": "list",
    "cpython/msg_05.txt": "bounce",
    "cpython/msg_16.txt": "bounce",
    "cpython/msg_25.txt": "bounce",
    "cpython/msg_32.txt": "list",
    "cpython/msg_33.txt": "list",
    "cpython/msg_43.txt": "bounce",
    "flanker/apache-message-news-mime.eml": "list",
    "flanker/bounce/broken-mime.eml": "bounce",
    "flanker/bounce/gmail-invalid-address.eml": "bounce",
    "flanker/bounce/gmail-no-dns.eml": "bounce",
    "flanker/bounce/no-mx.eml": "bounce",
    "flanker/bounce/office365.eml": "bounce",
    "flanker/complaints/aol.eml": "feedback_report",
    "flanker/complaints/yahoo.eml": "feedback_report",
    "flanker/disposition-notification.eml": "read_receipt",
    "mail-parser/mail_malformed_2": "bounce",
    "mail-parser/mail_test_13": "list",
    "mail-parser/mail_test_15": "auto_generated",
    "mail-parser/mail_test_16": "bulk",
    "mail-parser/mail_test_5": "list",
    "mikel-mail/error_emails/bad_date_header2.eml": "bulk",
    "mikel-mail/error_emails/content_transfer_encoding_7-bit.eml": "bulk",
    "mikel-mail/error_emails/empty_in_reply_to.eml": "list",
    "mikel-mail/multipart_report_emails/multipart_report_multiple_status.eml": "bounce",
    "mikel-mail/multipart_report_emails/report_422.eml": "bounce",
    "mikel-mail/multipart_report_emails/report_530.eml": "bounce",
    "mime4j/mimetools-testmsgs/badbound.msg": "bounce",
    "mimekit/messages/bounce.txt": "bounce",
    "mimekit/messages/delivery-status.txt": "bounce",
    "mimekit/messages/delivery-status2.txt": "bounce",
    "mimekit/messages/feedback-report.txt": "feedback_report",
    "otobo/EmailParser/DuplicatedContentTypeHeader.eml": "auto_generated",
    "otobo/EmailParser/FilenameWithNewline.box": "bounce",
    "rt/emails/multipart-report": "bounce",
    "sisimai/bsd/arf-02.eml": "feedback_report",
    "sisimai/bsd/lhost-amazonses-01.eml": "bounce",
    "sisimai/bsd/lhost-amazonses-02.eml": "bounce",
    "sisimai/bsd/lhost-domino-01.eml": "bounce",
    "sisimai/bsd/lhost-exchange2003-01.eml": "bounce",
    "sisimai/bsd/lhost-exim-01.eml": "bounce",
    "sisimai/bsd/lhost-exim-02.eml": "bounce",
    "sisimai/bsd/lhost-gmail-01.eml": "bounce",
    "sisimai/bsd/lhost-gmail-03.eml": "bounce",
    "sisimai/bsd/lhost-gmx-01.eml": "bounce",
    "sisimai/bsd/lhost-googleworkspace-01.eml": "bounce",
    "sisimai/bsd/lhost-mailru-01.eml": "bounce",
    "sisimai/bsd/lhost-messagingserver-01.eml": "bounce",
    "sisimai/bsd/lhost-notes-01.eml": "bounce",
    "sisimai/bsd/lhost-office365-01.eml": "bounce",
    "sisimai/bsd/lhost-opensmtpd-01.eml": "bounce",
    "sisimai/bsd/lhost-outlook-01.eml": "bounce",
    "sisimai/bsd/lhost-postfix-02.eml": "bounce",
    "sisimai/bsd/lhost-sendgrid-01.eml": "bounce",
    "sisimai/bsd/lhost-zoho-01.eml": "bounce",
    "sisimai/bsd/rfc3464-01.eml": "bounce",
    "sisimai/bsd/rfc3464-03.eml": "bounce",
    "sisimai/bsd/rfc3464-04.eml": "bounce",
    "sisimai/bsd/rfc3834-01.eml": "auto_reply",
    "sisimai/bsd/rfc3834-02.eml": "auto_reply",
    "sisimai/bsd/rfc3834-03.eml": "auto_reply",
    "sisimai/bsd/rfc3834-05.eml": "auto_reply",
    "sisimai/bsd/rhost-apple-01.eml": "bounce",
    "sisimai/bsd/rhost-google-01.eml": "bounce",
    "sisimai/bsd/rhost-microsoft-01.eml": "bounce",
    "sisimai/err/make-test-01.eml": "bounce",
    "zammad/mail018.box": "bounce",
    "zammad/mail019.box": "auto_generated",
    "zammad/mail033-undelivered-mail-returned-to-sender.box": "bounce",
    "zammad/mail035.box": "auto_generated",
    "zammad/mail043.box": "list",
    "zammad/mail055.box": "bounce",
    "zammad/mail078.box": "bounce",
    "zammad/mail089.box": "auto_generated",
    "zammad/mail098.box": "auto_generated",
    "zammad/mail099.box": "auto_generated",
}
# Messages with no From address at all (MIME test cases with their headers cut): nobody
# to answer, so they open no ticket; they are automatic only in that sense.
NO_SENDER = {
    "cpython/msg_19.txt",
    "cpython/msg_37.txt",
    "cpython/msg_39.txt",
    "cpython/msg_40.txt",
    "mail-parser/mail_outlook_1",
    "mikel-mail/error_emails/bad_encoded_subject.eml",
    "mikel-mail/rfc2822/example13.eml",
    "mime4j/mimetools-testmsgs/attachment-filename-encoding-UTF8.msg",
    "mime4j/mimetools-testmsgs/bluedot-postcard.msg",
    "mime4j/mimetools-testmsgs/bluedot-simple.msg",
    "mime4j/mimetools-testmsgs/double-semicolon.msg",
    "mime4j/mimetools-testmsgs/double-semicolon2.msg",
    "mime4j/mimetools-testmsgs/multi-2gifs-base64.msg",
    "mime4j/mimetools-testmsgs/re-fwd.msg",
    "mime4j/mimetools-testmsgs/russian.msg",
    "mime4j/mimetools-testmsgs/sig-uu.msg",
    "mime4j/mimetools-testmsgs/ticket-60931.msg",
    "mime4j/mimetools-testmsgs/uu-zeegee.msg",
    "mime4j/testmsgs/bad-newlines-multiple-parts.msg",
    "mime4j/testmsgs/base64-encoded-text.msg",
    "mime4j/testmsgs/boundary-name-clash.msg",
    "mime4j/testmsgs/intermediate-boundaries.msg",
    "mime4j/testmsgs/missing-inner-boundary.msg",
    "mime4j/testmsgs/obsolete.msg",
    "mime4j/testmsgs/russian-headers.msg",
    "mime4j/testmsgs/very-long-boundary.msg",
    "mime4j/testmsgs/very-very-long-boundary.msg",
    "mime4j/testmsgs/weird-boundary.msg",
    "mimekit/messages/multipart-related-mhtml.txt",
    "otobo/EmailParser/MultipartMixedHTML.eml",
    "otobo/EmailParser/MultipartMixedPlain.eml",
    "otobo/EmailParser/UTF-7.box",
    "rt/emails/lorem-ipsum",
    "zammad/mail016.box",
}
# The index's primary categories that name what a message is, and the kind each must be.
CATEGORY_KIND = {"bounce_dsn": "bounce", "auto_reply_oof": "auto_reply",
                 "mailing_list": "list", "arf_feedback": "feedback_report",
                 "mdn_receipt": "read_receipt"}


def corpus_rows() -> list[tuple[str, str]]:
    rows = (CORPUS / "index.tsv").read_text().splitlines()[1:]
    return [(row.split("\t")[0], row.split("\t")[6]) for row in rows if row.strip()]


def kind_of(name: str) -> str | None:
    verdict = classify(parse_mail((CORPUS / name).read_bytes()), SETTINGS)
    return verdict.kind if verdict else None


def test_the_table_names_corpus_files() -> None:
    names = {name for name, _ in corpus_rows()}
    assert set(AUTOMATIC) <= names and names >= NO_SENDER
    assert len(AUTOMATIC) >= 70


def test_every_automatic_message_has_its_kind_and_no_person_is_automatic() -> None:
    wrong: list[str] = []
    for name, _ in corpus_rows():
        expected = AUTOMATIC.get(name, "no_sender" if name in NO_SENDER else None)
        found = kind_of(name)
        if found != expected:
            wrong.append(f"{name}: {found} instead of {expected}")
    assert wrong == []


@pytest.mark.parametrize("category,kind", sorted(CATEGORY_KIND.items()))
def test_the_index_categories_agree(category: str, kind: str) -> None:
    named = [name for name, primary in corpus_rows() if primary == category]
    assert named, category
    assert {name: AUTOMATIC.get(name) for name in named} == dict.fromkeys(named, kind)


def test_bounces_name_the_failed_address_and_status() -> None:
    """The report of a standard bounce gives each failed recipient with its status code;
    failure notices in no standard format give the address (flufl.bounce) too."""
    expected = {
        "rt/emails/multipart-report": ("jesmund@mailbox.other.example.com", "5.1.1"),
        "zammad/mail033-undelivered-mail-returned-to-sender.box":
            ("not_existing@znuny.com", "5.1.1"),
        "sisimai/bsd/lhost-postfix-02.eml": ("userunknown@example.co.jp", "5.1.1"),
        "zammad/mail078.box": ("bob.smith@example.de", "4.4.1"),
        "flanker/bounce/no-mx.eml": ("user@example.com", "4.4.4"),
        "sisimai/bsd/lhost-exim-02.eml": ("sabatora@example.jp", "5.1.1"),
        "sisimai/bsd/lhost-exchange2003-01.eml": ("kijitora@example.jp", "5.0.0"),
        "sisimai/bsd/lhost-domino-01.eml": ("kijitora@example.jp", "5.0.0"),
    }
    for name, (address, status) in expected.items():
        report = parse_mail((CORPUS / name).read_bytes()).report
        assert report is not None, name
        assert (address, status) in {(f.address, f.status) for f in report.failures}, name


# Bounces whose failed address neither their report nor flufl.bounce's detectors give:
# a lost boundary (msg_25), base64 inside the report (bounce.txt), no report part (msg_05,
# broken-mime), Notes', OpenSMTPD's and an Office 365 relay's own wording. Each is still
# a bounce, recorded as automatic mail; with no address it marks nobody.
UNREAD_BOUNCES = sorted([
    "cpython/msg_05.txt", "cpython/msg_25.txt", "flanker/bounce/broken-mime.eml",
    "mime4j/mimetools-testmsgs/badbound.msg", "mimekit/messages/bounce.txt",
    "sisimai/bsd/lhost-notes-01.eml", "sisimai/bsd/lhost-opensmtpd-01.eml",
    "sisimai/bsd/lhost-office365-01.eml",
])


def test_bounced_recipients_are_found_in_most_bounces() -> None:
    """Of the corpus's bounces, those whose failed address we can read: all but a few
    whose MTA broke its own report (recorded as automatic mail all the same)."""
    bounces = [name for name, kind in AUTOMATIC.items() if kind == "bounce"]
    without = [name for name in bounces
               if not (report := parse_mail((CORPUS / name).read_bytes()).report)
               or not report.failures]
    assert sorted(without) == UNREAD_BOUNCES
