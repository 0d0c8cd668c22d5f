"""The customer's pages (issue 19, 3 and 4) over real HTTP against a running serve: only
the customer's own tickets, another's answering like a missing one, the conversation as
their mailbox has it, files as downloads to their customer only, a comment with a file that
lands on the ticket and resets the waiting timers, reopening inside the window and not
after it, CSRF, escaping, masking, the rate limit and the size limit.

Time is moved only through the commands' `--now` (`status` closes a ticket "eight days
ago"; `sweep` runs "four days later"), as in test_escalation_e2e.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from tests.conftest import mail, wait_until
from tests.portal_support import PortalInstallation, csrf_of, log_in

pytestmark = pytest.mark.slow

ANNA = "anna.kowalska@example.pl"
BEN = "ben.okafor@example.com"
COPIED = "carla.rossi@example.it"
AGENT = "dora@healthsync.com"  # the default team: told of every ticket and reply
# A real 1x1 PNG and a small real PDF, so libmagic names them as a mail client's would be.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f6"
    "e0a40000000049454e44ae426082")
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
       b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def outbox(inst: PortalInstallation) -> list[dict[str, Any]]:
    return list(json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout))


def settled(inst: PortalInstallation) -> None:
    """The spool empty and the outbox with nothing pending: whatever is coming has come."""
    inst.wait_spool_empty(30)
    wait_until(lambda: json.loads(inst.cli("outbox", "ls", "--json").stdout) == [], 30,
               "an empty outbox")


def delivered(inst: PortalInstallation) -> list[EmailMessage]:
    found = []
    for raw in inst.outbound():
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def with_pdf(subject: str, sender: str, **headers: str) -> EmailMessage:
    msg = mail(subject=subject, sender=sender, **headers)
    msg.add_attachment(PDF, maintype="application", subtype="pdf",
                       filename="Rechnung März.pdf")
    return msg


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One serve for the module: Anna's ticket (with a PDF, Carla copied) and Ben's."""
    inst = PortalInstallation(tmp_path_factory.mktemp("pages"),
                              f'[teams]\ndefault = ["{AGENT}"]\n')
    inst.start()
    try:
        inst.send(with_pdf("Invoice <b>twice</b> & charged", ANNA, Cc=COPIED))
        inst.wait_processed(1)
        inst.send(mail(subject="Watch strap broke", sender=BEN))
        tickets = inst.wait_processed(2)
        numbers = {t["requester"]: t["number"] for t in tickets}
        settled(inst)
        with closing(log_in(inst, ANNA)) as anna:
            yield {"inst": inst, "anna": numbers[ANNA], "ben": numbers[BEN],
                   "anna_client": anna}
    finally:
        inst.kill()


def test_not_logged_in_every_page_leads_to_the_login(desk: dict[str, Any]) -> None:
    inst: PortalInstallation = desk["inst"]
    with inst.client() as client:
        for path in ("/tickets", f"/tickets/{desk['anna']}", "/tickets/new",
                     f"/tickets/{desk['anna']}/files/1"):
            answer = client.get(path)
            assert (answer.status_code, answer.headers["location"]) == (303, "/login"), path


def test_my_tickets_lists_only_the_customers_own(desk: dict[str, Any]) -> None:
    client: httpx.Client = desk["anna_client"]
    page = client.get("/tickets")
    assert page.status_code == 200
    assert desk["anna"] in page.text and desk["ben"] not in page.text
    assert "Watch strap" not in page.text
    # The subject is escaped, never markup.
    assert "Invoice &lt;b&gt;twice&lt;/b&gt; &amp; charged" in page.text
    assert "<b>twice" not in page.text
    assert page.headers["cache-control"] == "no-store"
    with closing(log_in(desk["inst"], COPIED)) as carla:
        assert desk["anna"] in carla.get("/tickets").text  # copied: a participant


def test_anothers_ticket_answers_exactly_like_a_missing_one(desk: dict[str, Any]) -> None:
    client: httpx.Client = desk["anna_client"]
    theirs = client.get(f"/tickets/{desk['ben']}")
    missing = client.get("/tickets/HS-000000")
    malformed = client.get("/tickets/nonsense")
    assert theirs.status_code == missing.status_code == malformed.status_code == 404
    assert theirs.text == missing.text == malformed.text
    assert "Watch strap" not in theirs.text
    assert client.get(f"/tickets/{desk['ben']}/files/1").text == missing.text


def test_the_ticket_shows_the_conversation_and_serves_files_as_downloads(
        desk: dict[str, Any]) -> None:
    inst: PortalInstallation = desk["inst"]
    client: httpx.Client = desk["anna_client"]
    page = client.get(f"/tickets/{desk['anna']}")
    assert page.status_code == 200
    assert "Hello, the printer is on fire." in page.text   # her message
    assert desk["anna"] in page.text and "HealthSync support" in page.text  # our ack to her
    link = re.search(rf'href="(/tickets/{desk["anna"]}/files/\d+)"', page.text)
    assert link, page.text
    file = client.get(link.group(1))
    assert file.status_code == 200 and file.content == PDF
    assert file.headers["content-type"] == "application/octet-stream"
    disposition = file.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf" in disposition
    # Ben cannot fetch Anna's file by its address.
    with closing(log_in(inst, BEN)) as ben:
        stolen = ben.get(link.group(1))
        assert stolen.status_code == 404 and PDF not in stolen.content


def test_a_comment_with_a_file_lands_and_resets_the_waiting_timers(
        desk: dict[str, Any]) -> None:
    inst: PortalInstallation = desk["inst"]
    number = desk["ben"]
    inst.cli("status", number, "waiting")
    assert inst.show(number)["status"] == "waiting"  # a reminder would go out in 3 days
    with closing(log_in(inst, BEN)) as ben:
        page = ben.get(f"/tickets/{number}")
        sent = ben.post(f"/tickets/{number}/comments",
                        data={"csrf": csrf_of(page.text),
                              "text": "Here is a photo of the broken strap."},
                        files=[("files", ("strap.png", PNG, "image/png"))])
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == f"/tickets/{number}?done=comment"
        after = ben.get(sent.headers["location"])
        assert "your comment is on the ticket" in after.text
        assert "Here is a photo of the broken strap." in after.text and "strap.png" in after.text
    shown = inst.show(number)
    assert shown["status"] == "open"
    comment = shown["messages"][-1]
    assert comment["from"] == BEN and "photo of the broken strap" in comment["text"]
    assert [a["filename"] for a in comment["attachments"]] == ["strap.png"]
    # The agent is told as of a mailed reply, with the comment's words.
    settled(inst)
    notes = [m for m in delivered(inst) if AGENT in str(m["To"])
             and "Customer reply" in str(m["Subject"]) and number in str(m["Subject"])]
    assert len(notes) == 1
    body = notes[0].get_body(("plain",))
    assert body is not None and "photo of the broken strap" in body.get_content()
    # No reminder four days on: the comment ended the wait, as a mailed reply does.
    settled(inst)
    inst.cli("sweep", "--now", stamp(datetime.now(UTC) + timedelta(days=4)))
    settled(inst)
    assert not [r for r in outbox(inst) if r["number"] == number and r["kind"] == "reminder"]


def test_reopening_works_within_the_window_and_not_after_it(desk: dict[str, Any]) -> None:
    inst: PortalInstallation = desk["inst"]
    client: httpx.Client = desk["anna_client"]
    number = desk["anna"]
    inst.cli("status", number, "closed")
    page = client.get(f"/tickets/{number}")
    assert "Reopen the ticket" in page.text and "Send comment" not in page.text
    refused = client.post(f"/tickets/{number}/comments",
                          data={"csrf": csrf_of(page.text), "text": "one more thing"})
    assert refused.status_code == 409
    reopened = client.post(f"/tickets/{number}/reopen",
                           data={"csrf": csrf_of(page.text), "text": "Charged again today."})
    assert reopened.headers["location"] == f"/tickets/{number}?done=reopened"
    assert inst.show(number)["status"] == "open"

    # Closed eight days ago: past the 7-day window.
    inst.cli("status", number, "closed", "--now",
             stamp(datetime.now(UTC) - timedelta(days=8)))
    page = client.get(f"/tickets/{number}")
    assert "Reopen the ticket" not in page.text
    assert f'href="/tickets/new?refers={number}"' in page.text
    late = client.post(f"/tickets/{number}/reopen", data={"csrf": csrf_of(page.text)})
    assert late.status_code == 409
    assert inst.show(number)["status"] == "closed"

    form = client.get(f"/tickets/new?refers={number}")
    assert f'value="Follow-up to {number}: Invoice &lt;b&gt;twice' in form.text
    opened = client.post("/tickets/new", data={
        "csrf": csrf_of(form.text), "refers": number, "queue": "billing",
        "subject": f"Follow-up to {number}: charged again",
        "text": "The double charge is back this month."},
        files=[("files", ("kontoauszug.pdf", PDF, "application/pdf"))])
    assert opened.status_code == 303, opened.text
    new_number = re.fullmatch(r"/tickets/(HS-\d+)\?done=new", opened.headers["location"])
    assert new_number and new_number.group(1) != number
    created = inst.show(new_number.group(1))
    assert created["queue"] == "billing" and number in created["related"]
    assert [a["filename"] for a in created["messages"][0]["attachments"]] == ["kontoauszug.pdf"]
    assert inst.show(number)["status"] == "closed"


def test_forms_without_the_csrf_field_change_nothing(desk: dict[str, Any]) -> None:
    inst: PortalInstallation = desk["inst"]
    client: httpx.Client = desk["anna_client"]
    before = len(inst.show(desk["anna"])["messages"])
    for path in (f"/tickets/{desk['anna']}/comments", f"/tickets/{desk['anna']}/reopen",
                 "/tickets/new"):
        answer = client.post(path, data={"text": "forged", "subject": "forged",
                                         "queue": "support", "csrf": "0" * 64})
        assert answer.status_code == 403, path
    settled(inst)
    assert len(inst.show(desk["anna"])["messages"]) == before


def test_a_card_number_in_a_comment_is_masked(desk: dict[str, Any]) -> None:
    inst: PortalInstallation = desk["inst"]
    number = desk["ben"]
    with closing(log_in(inst, BEN)) as ben:
        page = ben.get(f"/tickets/{number}")
        ben.post(f"/tickets/{number}/comments", data={
            "csrf": csrf_of(page.text), "text": "My card is 4111 1111 1111 1111, exp 12/29."})
        shown = ben.get(f"/tickets/{number}").text
    assert "My card is" in shown  # the comment is there, its number is not
    assert "4111111111111111" not in shown.replace(" ", "")
    assert "4111111111111111" not in json.dumps(inst.show(number)).replace(" ", "")


def test_an_empty_comment_is_refused_and_too_many_are_slowed(tmp_path_factory:
                                                            pytest.TempPathFactory) -> None:
    inst = PortalInstallation(tmp_path_factory.mktemp("limits"), max_message_size=64_000)
    inst.start()
    try:
        inst.send(mail(subject="Sync stopped", sender=ANNA))
        number = inst.wait_processed(1)[0]["number"]
        with closing(log_in(inst, ANNA)) as client:
            token = csrf_of(client.get(f"/tickets/{number}").text)
            empty = client.post(f"/tickets/{number}/comments", data={"csrf": token, "text": " "})
            assert empty.status_code == 422 and "Please write a comment" in empty.text
            big = client.post(f"/tickets/{number}/comments", data={"csrf": token},
                              files=[("files", ("big.bin", b"x" * 70_000, "image/png"))])
            assert big.status_code == 413
            # comment_address: 60 forms an hour; the empty one above was the first.
            answers = [client.post(f"/tickets/{number}/comments",
                                   data={"csrf": token, "text": ""}).status_code
                       for _ in range(60)]
            assert answers[:59] == [422] * 59 and answers[59] == 429
        settled(inst)
        assert len(inst.show(number)["messages"]) == 2  # hers and our acknowledgement
    finally:
        inst.kill()
