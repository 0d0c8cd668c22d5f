"""Issue 12, point 7 (and the `[Bug]` route of point 2): the bug report template's fields.

Table-driven over reports as mail clients send them (Gmail, Outlook's HTML, Apple Mail, a
phone, Thunderbird, German, French and Spanish), parsed by the real parser and read from
the customer's own words; then the route, the decision and the acknowledgement's list.
"""

from __future__ import annotations

import pytest

from maildaemon.config import config_from_dict
from maildaemon.domain import BugReport, Decision, Status, TicketRef
from maildaemon.parse import parse_mail
from maildaemon.policy.bugreport import missing_fields, read_bug_report
from maildaemon.policy.decide import decide
from maildaemon.policy.ownwords import customer_words
from maildaemon.worker import policy_settings
from tests.conftest import HANG_GUARD_SECONDS
from tests.test_policy import NOW, ctx

SETTINGS = policy_settings(config_from_dict({}))
SENDER = "dev@clinic.example"


def plain(body: str, subject: str = "[Bug] Upload fails", headers: str = "") -> bytes:
    return (f"From: Dev <{SENDER}>\r\nTo: support@healthsync.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash(body))}@clinic.example>\r\n{headers}MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            "\r\n" + body.replace("\n", "\r\n")).encode()


def html(markup: str, subject: str = "[Bug] Upload fails") -> bytes:
    return (f"From: Dev <{SENDER}>\r\nTo: support@healthsync.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash(markup))}@clinic.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            "\r\n" + markup.replace("\n", "\r\n")).encode()


GMAIL_MARKDOWN = plain("""Hi team,

Uploading a PDF does nothing.

**Steps to reproduce:**
1. Log in as a clinic admin
2. Go to Documents
3. Click *Upload* and choose a 2 MB PDF

**Expected:** the file is listed
**Actual:** the spinner never stops

**Browser:** Chrome 120.0.6099.109
**OS:** Windows 11
**App version:** 3.2.0

Thanks,
Dev
""")

OUTLOOK_HTML = html("""<html><head><style>p.MsoNormal{margin:0}</style></head><body>
<div class="WordSection1"><p class="MsoNormal">Hello,<o:p></o:p></p>
<p class="MsoNormal">the AI report export crashes.<o:p></o:p></p>
<p class="MsoNormal"><b>Steps to reproduce:</b><o:p></o:p></p>
<ol><li class="MsoNormal">Open a patient</li><li class="MsoNormal">Click Export</li>
<li class="MsoNormal">Choose &quot;AI summary&quot;</li></ol>
<table class="MsoTableGrid"><tr><td><p class="MsoNormal">Browser</p></td>
<td><p class="MsoNormal">Microsoft Edge 120</p></td></tr>
<tr><td><p class="MsoNormal">OS</p></td><td><p class="MsoNormal">Windows 10</p></td></tr>
</table>
<p class="MsoNormal">Kind regards,<o:p></o:p></p><p class="MsoNormal">Dev<o:p></o:p></p>
</div></body></html>""")

APPLE_MAIL = plain("""Hello,

The calendar shows appointments one hour late since the clocks changed.

Steps to reproduce
- Open the calendar
- Switch to week view
- Compare with the appointment time

Device: iPad Air
Version 3.1.9

Best,
Dev
Sent from my iPhone""")

MOBILE = plain("""app crashes when i tap upload on my pixel 8, android 14. v3.2.0

Sent from my Galaxy""")

THUNDERBIRD = plain("""Steps to reproduce:
open the app, tap Upload, pick a photo

Browser - Firefox 121
Operating system - Ubuntu 22.04
App version - n/a
""")

GERMAN = plain("""Hallo,

beim Hochladen erscheint eine Fehlermeldung.

Schritte zum Reproduzieren:
1. App öffnen
2. Auf "Hochladen" klicken
3. Eine PDF-Datei auswählen

Browser: Firefox 121
Betriebssystem: macOS 14.2
App-Version: 3.1.4

Viele Grüße
Dev""", subject="[Bug] Fehler beim Hochladen")

FRENCH = plain("""Bonjour,

Étapes pour reproduire :
1. Ouvrir l'application
2. Cliquer sur Exporter

Navigateur : Safari 17
Version de l'application : 3.2.0

Cordialement,
Dev""", subject="[Bug] Export")

SPANISH_NO_FIELDS = plain("""Hola, la aplicación se cierra cuando subo un documento.
¿Pueden ayudarme?

Saludos
Dev""", subject="[Bug] Se cierra")

QUOTED_FIELDS = plain("""Still happening, see below.

On Mon, 30 Nov 2026 at 09:12, Support <bugs@healthsync.com> wrote:
> Which browser? e.g. Browser: Chrome 120
> App version: 3.2.0
""", headers="In-Reply-To: <a1@healthsync.com>\r\n")

PROSE = plain("""The browser crashes when I click save. The version of the form I use is new.
Chrome version 120.0.6099 says nothing in the console.
""")

# (raw, expected fields, missing)
TABLE: list[tuple[str, bytes, dict[str, str], tuple[str, ...]]] = [
    ("gmail markdown", GMAIL_MARKDOWN,
     {"steps": "1. Log in as a clinic admin\n2. Go to Documents\n3. Click *Upload* and "
               "choose a 2 MB PDF",
      "browser": "Chrome 120.0.6099.109", "os": "Windows 11", "app_version": "3.2.0"}, ()),
    ("outlook html", OUTLOOK_HTML,  # an <ol> keeps its numbers (htmltext.py)
     {"steps": "1. Open a patient\n2. Click Export\n3. Choose \"AI summary\"",
      "browser": "Microsoft Edge 120", "os": "Windows 10", "app_version": ""},
     ("app_version",)),
    ("apple mail", APPLE_MAIL,
     {"steps": "- Open the calendar\n- Switch to week view\n- Compare with the appointment "
               "time",
      "device": "iPad Air", "browser": "", "app_version": "3.1.9"}, ()),
    ("mobile", MOBILE,
     {"steps": "", "device": "pixel 8", "os": "android 14", "app_version": "3.2.0"},
     ("steps",)),
    ("thunderbird", THUNDERBIRD,
     {"steps": "open the app, tap Upload, pick a photo", "browser": "Firefox 121",
      "os": "Ubuntu 22.04", "app_version": ""}, ("app_version",)),
    ("german", GERMAN,
     {"steps": "1. App öffnen\n2. Auf \"Hochladen\" klicken\n3. Eine PDF-Datei auswählen",
      "browser": "Firefox 121", "os": "macOS 14.2", "app_version": "3.1.4"}, ()),
    ("french", FRENCH,
     {"steps": "1. Ouvrir l'application\n2. Cliquer sur Exporter", "browser": "Safari 17",
      "app_version": "3.2.0"}, ()),
    ("spanish, nothing given", SPANISH_NO_FIELDS, {"steps": "", "browser": "", "os": ""},
     ("steps", "browser_or_device", "app_version")),
    ("fields only in the quote", QUOTED_FIELDS, {"browser": "", "app_version": ""},
     ("steps", "browser_or_device", "app_version")),
    ("prose is no label", PROSE,
     {"browser": "Chrome version 120.0.6099", "app_version": "", "os": ""},
     ("steps", "app_version")),
]


@pytest.mark.parametrize(("raw", "expected", "missing"), [row[1:] for row in TABLE],
                         ids=[row[0] for row in TABLE])
def test_the_fields_are_read_as_clients_write_them(raw: bytes, expected: dict[str, str],
                                                   missing: tuple[str, ...]) -> None:
    mail = parse_mail(raw, SENDER, ("support@healthsync.com",))
    report = read_bug_report(customer_words(mail.own_text))
    assert {name: getattr(report, name) for name in expected} == expected
    assert missing_fields(report) == missing


@pytest.mark.parametrize(("text", "field", "value"), [
    ("Browser: Chrome 120", "browser", "Chrome 120"),
    ("BROWSER - chrome 120", "browser", "chrome 120"),
    ("*Browser*: Chrome 120", "browser", "Chrome 120"),
    ("| Device | iPhone 15 |", "device", "iPhone 15"),
    ("Device:\niPhone 15 Pro Max", "device", "iPhone 15 Pro Max"),
    ("OS: Windows 11", "os", "Windows 11"),
    ("App version: 3.2.0", "app_version", "3.2.0"),
    ("Version 3.2.0", "app_version", "3.2.0"),
    ("I am on v3.2.0 since Monday", "app_version", "3.2.0"),
    ("Build number: 3.2.0 (4512)", "app_version", "3.2.0 (4512)"),
    ("Browser: unknown", "browser", ""),
    ("Browser: n/a", "browser", ""),
    ("OS-level settings are wrong", "os", ""),
    ("Chrome version 120.0.1 on iOS 17.2", "app_version", ""),
    ("We use Chromebooks with ChromeOS", "browser", ""),
    ("Step 1: open the app\nStep 2: tap upload", "steps",
     "Step 1: open the app\nStep 2: tap upload"),
    ("- Chrome 120\n- Windows 11", "steps", ""),  # a list, but of the environment
    ("Steps I took were many and varied.", "steps", ""),
])
def test_one_line_at_a_time(text: str, field: str, value: str) -> None:
    assert getattr(read_bug_report(text), field) == value


def decided(raw: bytes, rcpt: str = "support@healthsync.com") -> Decision:
    return decide(parse_mail(raw, SENDER, (rcpt,)), ctx(), SETTINGS, NOW)


@pytest.mark.parametrize(("subject", "rcpt", "queue", "routed"), [
    ("[Bug] Upload fails", "support@healthsync.com", "bugs", True),
    ("[bug] upload fails", "support@healthsync.com", "bugs", True),
    ("Fwd: [BUG REPORT] upload fails", "support@healthsync.com", "bugs", True),
    ("Upload fails [Bug]", "support@healthsync.com", "bugs", True),
    ("[Bug] Upload fails", "tech@healthsync.com", "tech", False),
    ("[Bug] Invoice twice", "billing@healthsync.com", "billing", False),
    ("[Bug] Upload fails", "bugs@healthsync.com", "bugs", False),
    ("Debugging tips? [Bugfix]", "support@healthsync.com", "support", False),
    ("Bug in upload", "support@healthsync.com", "support", False),
])
def test_a_bug_subject_to_support_goes_to_bugs(subject: str, rcpt: str, queue: str,
                                               routed: bool) -> None:
    decision = decided(plain("It fails.", subject=subject), rcpt)
    assert decision.new_ticket is not None and decision.new_ticket.queue == queue
    route = "bug_route: [Bug] subject to the support queue: created in the bugs queue instead"
    assert (route in decision.trace) == routed
    assert decision.events[0].detail.startswith(f"queue {queue},")


def test_a_bug_report_is_one_in_the_bugs_queue_or_with_the_tag() -> None:
    tagged = decided(plain(MOBILE.decode().split("\r\n\r\n", 1)[1]), "tech@healthsync.com")
    assert tagged.bug_report is not None and tagged.bug_report.device == "pixel 8"
    to_bugs = decided(plain("It fails in Chrome.", subject="Upload"), "bugs@healthsync.com")
    assert to_bugs.bug_report == BugReport(browser="Chrome")
    assert "bug_report: found browser Chrome; missing steps to reproduce, app version" in \
        to_bugs.trace
    assert decided(plain("It fails.", subject="Upload")).bug_report is None


def test_the_bugs_queue_is_configurable_and_optional() -> None:
    renamed = policy_settings(config_from_dict({"queues": {
        "support": "helpdesk", "bugs": "engineering"},
        "routing": {"order": ["engineering", "helpdesk"], "default_queue": "helpdesk"}}))
    mail = parse_mail(plain("x"), SENDER, ("support@healthsync.com",))
    new = decide(mail, ctx(), renamed, NOW).new_ticket
    assert new is not None and new.queue == "engineering"
    no_bugs = policy_settings(config_from_dict({"queues": {"support": "support"},
                                                "routing": {"order": ["support"]}}))
    new = decide(mail, ctx(), no_bugs, NOW).new_ticket
    assert new is not None and new.queue == "support"


def bug_ticket(subject: str = "[Bug] Upload fails", queue: str = "bugs") -> TicketRef:
    return TicketRef("HS-333333", Status.OPEN, queue, SENDER, subject, frozenset({SENDER}))


def test_a_reply_on_a_bug_report_carries_the_fields_it_gives() -> None:
    reply = parse_mail(plain("Sorry: App version: 3.2.0\n\nOn Mon, Support wrote:\n> Browser: "
                             "Chrome 120\n", subject="Re: [HS-333333] [Bug] Upload fails"),
                       SENDER, ("bugs@healthsync.com",))
    decision = decide(reply, ctx(subject_tickets=(bug_ticket(),)), SETTINGS, NOW)
    assert decision.ticket is not None and decision.bug_report == BugReport(app_version="3.2.0")
    assert "bug_report: the reply: found app version 3.2.0; kept where the report had none" \
        in decision.trace
    other = decide(reply, ctx(subject_tickets=(bug_ticket("Invoice", "billing"),)),
                   SETTINGS, NOW)
    assert other.bug_report is None
    chat = parse_mail(plain("Thanks, any news?", subject="Re: [HS-333333] [Bug] x"), SENDER,
                      ("bugs@healthsync.com",))
    assert decide(chat, ctx(subject_tickets=(bug_ticket(),)), SETTINGS, NOW
                  ).bug_report is None


@pytest.mark.parametrize("text", [
    "x" * 1_000_000, "v1." * 300_000, "Browser:" * 100_000, "1. a\n" * 200_000,
    "- open\n" * 200_000, "Steps to reproduce:\n" * 50_000, " " * 1_000_000 + "Chrome",
    "version " * 100_000, "iphone " * 100_000, ("|" * 5000 + "\n") * 200,
])
def test_hostile_text_ends_and_reads_a_bounded_part(text: str) -> None:
    import time

    began = time.perf_counter()
    report = read_bug_report(text)
    assert time.perf_counter() - began < HANG_GUARD_SECONDS
    assert len(report.steps) <= 20 * 20_000 and all(
        len(getattr(report, name)) <= 200 for name in ("browser", "device", "os"))
