"""Issue 16, points 2, 3 and 6, end to end: agents answer tickets from their mail client.

The real `maildaemon serve`, real SMTP. Each test opens its own ticket as a customer, then
an agent writes to the ticket's reply address as Thunderbird or Outlook writes a reply
(the notification quoted below the answer, a signature, sometimes a file). The reply
address is made with the data directory's key, as the team's notification makes it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

from maildaemon.policy.replyaddress import reply_address
from maildaemon.worker import load_secret
from tests.conftest import DOMAIN, Installation, wait_until

pytestmark = pytest.mark.slow

SAM, KIM = "sam@healthsync.com", "kim@healthsync.com"
TEAMS = f'[teams]\nbilling = ["{SAM}", "{KIM}"]\ndefault = ["desk@healthsync.com"]\n'
QUOTED = "I was charged twice for March. QUOTED-CUSTOMER-TEXT"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = Installation(tmp_path_factory.mktemp("agents"), extra_config=TEAMS)
    inst.start()
    yield inst
    inst.kill()


# -- helpers ---------------------------------------------------------------------------------

def open_ticket(inst: Installation, customer: str, subject: str) -> str:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Cc"] = customer, f"billing@{DOMAIN}", "bob@example.org"
    msg["Subject"], msg["Message-ID"] = subject, f"<{secrets.token_hex(6)}@example.org>"
    msg.set_content(QUOTED)
    inst.send(msg, sender=customer, rcpts=[f"billing@{DOMAIN}"])
    found = wait_until(lambda: [t for t in inst.tickets() if t["subject"] == subject], 20,
                       "the customer's ticket")
    return str(found[0]["number"])


def tagged(inst: Installation, number: str, agent: str = SAM, comment: bool = False) -> str:
    return reply_address(load_secret(inst.tmp / "data"), "billing", DOMAIN, number, agent,
                         comment)


def settle(inst: Installation) -> None:
    """Everything received is processed and nothing waits in the outbox."""
    inst.wait_spool_empty(20)
    wait_until(lambda: json.loads(inst.cli("outbox", "ls", "--json").stdout) == [], 20,
               "nothing pending in the outbox")


def mail_to(inst: Installation, address: str, number: str) -> list[EmailMessage]:
    """What was delivered to `address` about ticket `number` (To or Cc)."""
    found = []
    for raw in inst.outbound():
        msg = message_from_bytes(raw, policy=default)
        assert isinstance(msg, EmailMessage)
        people = f"{msg['To']} {msg['Cc'] or ''}"
        if address in people and number in str(msg["Subject"]):
            found.append(msg)
    return found


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def kinds(inst: Installation, number: str) -> list[str]:
    rows = json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout)
    return [r["kind"] for r in rows if r["number"] == number]


def thunderbird(number: str, to: str, body: str, sender: str = SAM) -> EmailMessage:
    """A Thunderbird reply: the answer on top, "-- " signature, the notification quoted."""
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Sam Agent <{sender}>", f"Billing team <{to}>"
    msg["Subject"] = f"Re: [{number}] Charged twice"
    msg["Message-ID"] = f"<{secrets.token_hex(8)}@healthsync.com>"
    msg["In-Reply-To"] = f"<{number}.notify@{DOMAIN}>"
    msg["User-Agent"] = "Mozilla Thunderbird"
    msg.set_content(f"{body}\n\n-- \nSam Agent | HealthSync billing | SIGNATURE-LINE\n\n"
                    f"On 28/11/2026 10:00, Billing team wrote:\n> New ticket {number}\n"
                    f"> {QUOTED}\n> Reply to this mail to answer the customer.\n")
    return msg


def gmail(number: str, to: str, body: str, sender: str = SAM) -> EmailMessage:
    """A Gmail reply: plain and HTML, no signature, the attribution line wrapped before the
    address (so only the quoted lines below it start with ">")."""
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Sam Agent <{sender}>", to
    msg["Subject"] = f"Re: [{number}] Charged twice"
    msg["Message-ID"] = f"<CA+{secrets.token_hex(12)}@mail.gmail.com>"
    msg.set_content(f"{body}\n\nOn Sat, Nov 28, 2026 at 10:00 AM Billing team <\n{to}> "
                    "wrote:\n\n"
                    f"> New ticket {number}\n> {QUOTED}\n>\n")
    msg.add_alternative(
        f'<div dir="ltr">{body}</div><br><div class="gmail_quote">'
        f'<div dir="ltr" class="gmail_attr">On Sat, Nov 28, 2026 at 10:00 AM Billing team '
        f'&lt;<a href="mailto:{to}">{to}</a>&gt; wrote:<br></div><blockquote '
        f'class="gmail_quote">New ticket {number}<br>{QUOTED}</blockquote></div>',
        subtype="html")
    return msg


def apple_mail(number: str, to: str, body: str, sender: str = SAM) -> EmailMessage:
    """An Apple Mail reply: the signature without a separator, the attribution quoted."""
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Sam Agent <{sender}>", f"Billing team <{to}>"
    msg["Subject"] = f"Re: [{number}] Charged twice"
    msg["Message-ID"] = f"<{secrets.token_hex(8).upper()}@healthsync.com>"
    msg["X-Mailer"] = "Apple Mail (2.3774.200.91.1.1)"
    msg.set_content(f"{body}\n\n\n> On 28 Nov 2026, at 10:00, Billing team <{to}> wrote:\n"
                    f"> \n> New ticket {number}\n> {QUOTED}\n")
    return msg


def outlook(number: str, to: str, body: str, sender: str = SAM) -> EmailMessage:
    """An Outlook reply: plain and HTML, the header block of the notification below."""
    header_block = (f"From: Billing team <{to}>\nSent: Saturday, November 28, 2026 10:00 AM\n"
                    f"To: Sam Agent <{sender}>\nSubject: [{number}] Charged twice\n\n"
                    f"New ticket {number}\n{QUOTED}\n")
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Sam Agent <{sender}>", to
    msg["Subject"] = f"RE: [{number}] Charged twice"
    msg["Message-ID"] = f"<{secrets.token_hex(8)}@EXCH01.healthsync.com>"
    msg["Thread-Topic"] = f"[{number}] Charged twice"
    msg["X-MS-Exchange-Organization-AuthAs"] = "Internal"
    msg.set_content(f"{body}\n\nSam\n\n{header_block}")
    paragraphs = "".join(f"<div>{line or '<br>'}</div>" for line in body.split("\n"))
    msg.add_alternative(
        f"<html><body>{paragraphs}<div><br></div><div>Sam</div><div id=\"appendonsend\"></div>"
        f"<hr><div id=\"divRplyFwdMsg\"><b>From:</b> Billing team &lt;{to}&gt;<br>"
        f"<b>Sent:</b> Saturday, November 28, 2026 10:00 AM<br><b>Subject:</b> [{number}] "
        f"Charged twice</div><div>{QUOTED}</div></body></html>", subtype="html")
    return msg


def send(inst: Installation, msg: EmailMessage, to: str, sender: str = SAM) -> None:
    inst.send(msg, sender=sender, rcpts=[to])


# -- answers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("client", [thunderbird, gmail, apple_mail])
def test_an_answer_reaches_the_customer_with_only_the_agents_text(
        desk: Installation, client: Callable[[str, str, str], EmailMessage]) -> None:
    customer = f"ann.{client.__name__}@example.org"
    number = open_ticket(desk, customer, f"Charged twice ({client.__name__})")
    answer = client(number, tagged(desk, number), "Hello Ann, the refund is on its way.")
    answer.add_attachment(PDF, maintype="application", subtype="pdf", filename="refund.pdf")
    send(desk, answer, tagged(desk, number))
    settle(desk)
    [got] = [m for m in mail_to(desk, customer, number)
             if "refund is on its way" in text_of(m)]
    text = text_of(got)
    assert "QUOTED-CUSTOMER-TEXT" not in text and "SIGNATURE-LINE" not in text
    assert "+HS-" not in got.as_string() and "wrote:" not in text
    assert str(got["From"]).endswith(f"<billing@{DOMAIN}>")
    assert "bob@example.org" in str(got["Cc"])
    assert [a.get_filename() for a in got.iter_attachments()] == ["refund.pdf"]
    assert desk.show(number)["status"] == "open"
    assert "agent_confirmation" not in kinds(desk, number)  # no command lines


def test_an_outlook_answer_with_status_resolved_resolves_and_tells_the_customer(
        desk: Installation) -> None:
    number = open_ticket(desk, "olga@example.org", "Charged twice (ol)")
    to = tagged(desk, number)
    send(desk, outlook(number, to, "#status resolved\n\nHi Olga, I refunded the charge."), to)
    settle(desk)
    [got] = [m for m in mail_to(desk, "olga@example.org", number)
             if "I refunded the charge" in text_of(m)]
    text = text_of(got)
    assert "#status" not in text and "QUOTED-CUSTOMER-TEXT" not in text
    assert "resolved" in text  # the status line of the answer, as `maildaemon reply`
    assert desk.show(number)["status"] == "resolved"
    [confirmation] = [m for m in mail_to(desk, SAM, number)
                      if "Applied" in text_of(m)]
    assert "#status resolved" in text_of(confirmation)


def test_a_comment_reaches_no_customer(desk: Installation) -> None:
    number = open_ticket(desk, "cora@example.org", "Charged twice (co)")
    to = tagged(desk, number, comment=True)
    send(desk, thunderbird(number, to, "INTERNAL-ONLY: card expired, chasing the bank."), to)
    settle(desk)
    for person in ("cora@example.org", "bob@example.org"):
        assert not [m for m in mail_to(desk, person, number) if "INTERNAL" in text_of(m)]
    shown = desk.show(number)
    assert shown["status"] == "new"
    assert "INTERNAL-ONLY" in json.dumps(shown["events"])


def test_an_unknown_command_is_named_and_the_others_applied(desk: Installation) -> None:
    number = open_ticket(desk, "uma@example.org", "Charged twice (un)")
    to = tagged(desk, number)
    send(desk, thunderbird(number, to, "#frobnicate now\n#priority high\n#assign me\n"), to)
    settle(desk)
    [confirmation] = [m for m in mail_to(desk, SAM, number) if "Applied" in text_of(m)]
    text = text_of(confirmation)
    assert "#frobnicate now: unknown command" in text
    assert "#priority high" in text.split("Not applied")[0]
    shown = desk.show(number)
    assert (shown["priority"], shown["assignee"]) == ("high", SAM)
    assert not mail_to(desk, "uma@example.org", number)[1:]  # only its acknowledgement


# -- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["another_agents_tag", "forged_tag"])
def test_a_tag_not_made_for_the_sender_is_refused(desk: Installation, case: str) -> None:
    customer = f"{case.replace('_', '')}@example.org"
    number = open_ticket(desk, customer, f"Charged twice ({case})")
    to = tagged(desk, number) if case == "another_agents_tag" else \
        f"billing+{number}-{'a' * 16}@{DOMAIN}"
    send(desk, thunderbird(number, to, "#status closed\nPay again at evil.example", KIM),
         to, sender=KIM)
    settle(desk)
    shown = desk.show(number)
    assert shown["status"] == "new"
    assert not [m for m in mail_to(desk, customer, number) if "evil.example" in text_of(m)]
    [refusal] = [m for m in mail_to(desk, KIM, number) if "not accepted" in text_of(m)]
    assert "agent_refused" in kinds(desk, number)
    assert "Charged twice" not in text_of(refusal) + str(refusal["Subject"])
    assert "agent_refused" in json.dumps(shown["events"])
    assert "evil.example" not in json.dumps(shown)  # not on the timeline as a message


# -- loop safety -----------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All",
     "X-MS-Exchange-Inbox-Rules-Loop": SAM},
    {},  # a client that marks its out-of-office by the subject alone
])
def test_an_out_of_office_to_the_reply_address_changes_nothing(
        desk: Installation, headers: dict[str, str]) -> None:
    customer = f"ooo{len(headers)}@example.org"
    number = open_ticket(desk, customer, f"Charged twice (ooo {len(headers)})")
    to = tagged(desk, number)
    settle(desk)
    before = len(mail_to(desk, customer, number))
    ooo = thunderbird(number, to, "#status closed\nI am out of the office until Monday.")
    ooo.replace_header("Subject", f"Automatic reply: [{number}] Charged twice")
    for name, value in headers.items():
        ooo[name] = value
    send(desk, ooo, to)
    settle(desk)
    assert desk.show(number)["status"] == "new"
    assert len(mail_to(desk, customer, number)) == before
    assert not mail_to(desk, SAM, number) or all(
        "out of the office" not in text_of(m) and "Applied" not in text_of(m)
        for m in mail_to(desk, SAM, number))



# -- point 4: staff cannot be spoofed --------------------------------------------------------

def test_an_agents_from_address_without_a_tag_or_dmarc_pass_is_a_strangers(
        desk: Installation) -> None:
    """Written to the queue's own address in the customer's thread, as anyone could: not
    relayed, and a new ticket linked to the customer's opens for the team to review."""
    number = open_ticket(desk, "vera@example.org", "Charged twice (spoof)")
    settle(desk)
    [ack] = mail_to(desk, "vera@example.org", number)
    spoof = thunderbird(number, f"billing@{DOMAIN}", "Pay the balance at evil.example/pay")
    spoof["In-Reply-To"] = str(ack["Message-ID"])
    send(desk, spoof, f"billing@{DOMAIN}")
    settle(desk)
    assert not [m for m in mail_to(desk, "vera@example.org", number)
                if "evil.example" in text_of(m)]
    [linked] = [t for t in desk.tickets() if t["requester"] == SAM
                and t["subject"] == f"Re: [{number}] Charged twice"]
    original = desk.show(number)
    assert original["status"] == "new"
    assert "sender_not_participant" in json.dumps(original["events"]) + json.dumps(
        desk.show(linked["number"])["events"])
    assert f"linked to {number}" in json.dumps(desk.show(linked["number"])["events"])


def test_an_answer_to_the_real_notification_unquoted_below_it_sends_only_the_answer(
        desk: Installation) -> None:
    """Outlook's bold header block with the notification unmarked below it, as Outlook on
    Windows writes an HTML reply's text part: quoting.py does not see that, the marker the
    notification starts with does. Sent to the notification's own Reply-To."""
    number = open_ticket(desk, "nina@example.org", "Charged twice (marker)")
    [notification] = wait_until(lambda: [m for m in mail_to(desk, SAM, number)
                                         if m["Reply-To"]], 20, "the notification")
    to = str(notification["Reply-To"])
    answer = EmailMessage()
    answer["From"], answer["To"] = f"Sam Agent <{SAM}>", to
    answer["Subject"] = f"RE: {notification['Subject']}"
    answer["Message-ID"] = f"<{secrets.token_hex(8)}@EXCH01.healthsync.com>"
    answer.set_content("Hi Nina, refunded today.\n\nSam\n\n*From:* Billing team "
                       f"<billing@{DOMAIN}>\n*Sent:* Monday, November 30, 2026 9:14 AM\n"
                       f"*To:* Sam Agent <{SAM}>\n*Subject:* {notification['Subject']}\n\n"
                       + text_of(notification))
    send(desk, answer, to)
    settle(desk)
    [got] = [m for m in mail_to(desk, "nina@example.org", number)
             if "refunded today" in text_of(m)]
    assert "QUOTED-CUSTOMER-TEXT" not in text_of(got) and "*From:*" not in text_of(got)
    assert "+HS-" not in got.as_string()
