"""The in-app API (issue 19, 2) over real HTTP against a running serve: a submission makes a
ticket and an acknowledgement by mail, six files give five stored and one refused as by
mail, nothing happens without the token, each refusal's status and field, the customer's
list, the rate limit per address, the size limit, and the database unavailable."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Any

import httpx
import pytest

from tests.conftest import DOMAIN, acks_to, wait_until
from tests.portal_support import PortalInstallation
from tests.test_attachments import PDF, png

pytestmark = pytest.mark.slow  # every test here starts `maildaemon serve`

NUMBER = re.compile(r"HS-\d{6}")
SMALL = 4096  # max_message_size of the second installation


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalInstallation]:
    inst = PortalInstallation(tmp_path_factory.mktemp("api"))
    inst.start()
    try:
        yield inst
    finally:
        inst.kill()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalInstallation]:
    """A small size limit, and our MTA's authserv-id set: portal mail carries no
    Authentication-Results, so it is not judged."""
    inst = PortalInstallation(tmp_path_factory.mktemp("api-small"), max_message_size=SMALL)
    text = inst.config.read_text()
    inst.config.write_text(text.replace(f'domain = "{DOMAIN}"\n',
                                        f'domain = "{DOMAIN}"\n'
                                        'trusted_authserv_id = "mx.healthsync.com"\n', 1))
    inst.start()
    try:
        yield inst
    finally:
        inst.kill()


def customer() -> str:
    return f"api-{uuid.uuid4().hex[:8]}@example.org"


def ticket(email: str, subject: str = "Sync stopped", **more: Any) -> dict[str, Any]:
    return {"email": email, "subject": subject,
            "description": "My steps have not synced since Monday.", **more}


def spool(inst: PortalInstallation) -> list[Any]:
    return list(json.loads(inst.cli("spool", "ls", "--json").stdout))


def ack_text(inst: PortalInstallation, address: str) -> tuple[str, str]:
    """(Subject, plain text) of the acknowledgement to `address`, once it is delivered."""
    raw = wait_until(lambda: acks_to(inst, address), 30, "the acknowledgement")[-1]
    message = message_from_bytes(raw, policy=policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    return str(message["Subject"]), str(body.get_content())


def test_a_json_submission_makes_a_ticket_and_an_acknowledgement(
        api: PortalInstallation) -> None:
    who = customer()
    with api.api() as client:
        answer = client.post("/api/v1/tickets", json=ticket(who, "Heart rate graph empty"))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert NUMBER.fullmatch(body["number"])
    assert (body["outcome"], body["refused"]) == ("new_ticket", [])
    assert answer.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    shown = api.show(body["number"])
    assert (shown["requester"], shown["subject"], shown["queue"]) == (
        who, "Heart rate graph empty", "support")
    [inbound] = [m for m in shown["messages"] if m["direction"] == "inbound"]
    assert "My steps have not synced since Monday." in inbound["text"]
    assert inbound["to"] == [f"support@{DOMAIN}"]
    subject, _ = ack_text(api, who)
    assert f"[{body['number']}]" in subject
    portal = [line for line in api.log.read_text(errors="replace").lower().splitlines()
              if "logger=maildaemon.portal" in line]  # the worker logs mail as ever
    assert any("portal api: a submission for an address" in line for line in portal)
    assert not [line for line in portal if who in line or "synced" in line]


def test_the_queue_is_honoured(api: PortalInstallation) -> None:
    with api.api() as client:
        answer = client.post("/api/v1/tickets", json=ticket(customer(), queue="billing"))
    assert answer.status_code == 201, answer.text
    assert api.show(answer.json()["number"])["queue"] == "billing"


def test_a_followup_joins_the_ticket_with_200(api: PortalInstallation) -> None:
    """The app may post more for a ticket: its number in the subject, as in a reply."""
    who = customer()
    with api.api() as client:
        first = client.post("/api/v1/tickets", json=ticket(who)).json()["number"]
        more = client.post("/api/v1/tickets", json=ticket(
            who, f"Re: [{first}] Sync stopped", description="It also fails on Wi-Fi."))
    assert more.status_code == 200, more.text
    assert (more.json()["number"], more.json()["outcome"]) == (first, "followup")
    texts = [m["text"] for m in api.show(first)["messages"] if m["direction"] == "inbound"]
    assert len(texts) == 2 and "It also fails on Wi-Fi." in texts[1]


def test_six_files_give_five_stored_and_one_refused(api: PortalInstallation) -> None:
    who = customer()
    files = [("files", (f"shot{i}.png", png(i + 2), "image/png")) for i in range(3)]
    files += [("files", ("report.pdf", PDF, "application/pdf")),
              ("files", ("steps.txt", b"Monday 4012 steps\nTuesday 0 steps\n", "text/plain")),
              ("files", ("shot5.png", png(9), "image/png"))]
    with api.api() as client:
        answer = client.post("/api/v1/tickets", files=files, data={
            "email": who, "subject": "Screenshots of the sync error",
            "description": "Six files attached.", "queue": "tech"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["refused"] == [{"filename": "shot5.png",
                                "reason": "this ticket already has 5 files"}]
    shown = api.show(body["number"])
    assert shown["queue"] == "tech"
    [inbound] = [m for m in shown["messages"] if m["direction"] == "inbound"]
    assert [(a["filename"], a["content_type"]) for a in inbound["attachments"]] == [
        ("shot0.png", "image/png"), ("shot1.png", "image/png"), ("shot2.png", "image/png"),
        ("report.pdf", "application/pdf"), ("steps.txt", "text/plain")]
    assert [r["filename"] for r in inbound["rejected_attachments"]] == ["shot5.png"]
    _, text = ack_text(api, who)
    assert "  - shot5.png: this ticket already has 5 files" in text


def test_without_the_token_nothing_happens(api: PortalInstallation) -> None:
    before = {t["number"] for t in api.tickets()}
    who = customer()
    wrong = [{}, {"Authorization": "Bearer " + "x" * len(api.token)},
             {"Authorization": f"Basic {api.token}"}, {"Authorization": api.token},
             {"Authorization": f"Bearer {api.token}x"}]
    with httpx.Client(base_url=api.url, timeout=30) as client:
        for headers in wrong:
            answer = client.post("/api/v1/tickets", json=ticket(who), headers=headers)
            assert answer.status_code == 401, headers
            assert answer.json() == {"error": "unauthorized"}
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.headers["x-content-type-options"] == "nosniff"
        # Nothing of the body is read before the token: a broken one is still just 401.
        broken = client.post("/api/v1/tickets", content=b"{not json",
                             headers={"Content-Type": "application/json"})
        assert broken.status_code == 401
        listed = client.get("/api/v1/tickets", params={"email": who})
        assert (listed.status_code, listed.json()) == (401, {"error": "unauthorized"})
    assert spool(api) == []
    assert {t["number"] for t in api.tickets()} == before
    assert acks_to(api, who) == []


@pytest.mark.parametrize(("body", "status", "field"), [
    (ticket("olga at example.org"), 422, "email"),
    (ticket("olga@example.org", queue="escalation"), 422, "queue"),
    (ticket("olga@example.org", queue=["tech"]), 422, "queue"),
    ({"email": "olga@example.org", "description": "no subject"}, 422, "subject"),
    (ticket("olga@example.org", subject="   "), 422, "subject"),
    (ticket("olga@example.org", subject="x" * 999), 422, "subject"),
    (ticket("olga@example.org", description=5), 422, "description"),
    ({"subject": "s", "description": "d"}, 422, "email"),
    (["not", "an", "object"], 400, None),
])
def test_a_bad_field_is_named(api: PortalInstallation, body: Any, status: int,
                              field: str | None) -> None:
    with api.api() as client:
        answer = client.post("/api/v1/tickets", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json().get("field") == field and answer.json()["error"]
    assert spool(api) == []


def test_other_bodies_are_refused(api: PortalInstallation) -> None:
    with api.api() as client:
        plain = client.post("/api/v1/tickets", content=b"email=olga@example.org",
                            headers={"Content-Type": "text/plain"})
        form = client.post("/api/v1/tickets", data=ticket("olga@example.org"))
        broken = client.post("/api/v1/tickets", content=b'{"email": ',
                             headers={"Content-Type": "application/json"})
        lone = client.post("/api/v1/tickets", content=json.dumps(
            ticket("olga@example.org", description="\ud800")).encode(),
            headers={"Content-Type": "application/json"})
        file_as_text = client.post("/api/v1/tickets", files=[("files", (None, "text"))],
                                   data=ticket("olga@example.org"))
        text_as_file = client.post("/api/v1/tickets", data={"subject": "s"},
                                   files=[("email", ("a.txt", b"x", "text/plain"))])
    assert plain.status_code == form.status_code == 415
    assert broken.status_code == 400 and broken.json() == {"error": "the body is not valid JSON"}
    assert (lone.status_code, lone.json()["field"]) == (422, "description")
    assert (file_as_text.status_code, file_as_text.json()["field"]) == (422, "files")
    assert (text_as_file.status_code, text_as_file.json()["field"]) == (422, "email")
    assert spool(api) == []


def test_the_list_holds_only_the_customers_tickets_newest_first(
        api: PortalInstallation) -> None:
    who, other = customer(), customer()
    numbers = []
    with api.api() as client:
        for subject, address in (("First", who), ("Someone else's", other), ("Second", who)):
            answer = client.post("/api/v1/tickets", json=ticket(address, subject))
            assert answer.status_code == 201
            numbers.append(answer.json()["number"])
        listed = client.get("/api/v1/tickets", params={"email": who.upper()})
        missing = client.get("/api/v1/tickets")
        malformed = client.get("/api/v1/tickets", params={"email": "olga"})
        nobody = client.get("/api/v1/tickets", params={"email": customer()})
    assert listed.status_code == 200
    assert [(t["number"], t["subject"], t["status"]) for t in listed.json()] == [
        (numbers[2], "Second", "new"), (numbers[0], "First", "new")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["updated_at"])
               for t in listed.json())
    assert (missing.status_code, missing.json()["field"]) == (422, "email")
    assert (malformed.status_code, malformed.json()["field"]) == (422, "email")
    assert (nobody.status_code, nobody.json()) == (200, [])


def test_the_31st_submission_for_one_address_within_the_hour_is_429(
        api: PortalInstallation) -> None:
    who = customer()
    with api.api() as client:
        for i in range(30):
            answer = client.post("/api/v1/tickets", json=ticket(who, f"Issue {i}"))
            assert answer.status_code in (200, 201), (i, answer.text)
        over = client.post("/api/v1/tickets", json=ticket(who.upper(), "Issue 30"))
        other = client.post("/api/v1/tickets", json=ticket(customer(), "Another customer"))
    assert over.status_code == 429 and over.json() == {"error": "too many requests"}
    assert 0 < int(over.headers["retry-after"]) <= 3600
    assert other.status_code == 201
    assert "portal api: over api_address (30 per 1 hour); refused" in api.log.read_text()


def test_a_body_over_the_size_limit_is_413(small: PortalInstallation) -> None:
    who = customer()
    big = ticket(who, description="x" * SMALL)
    with small.api() as client:
        declared = client.post("/api/v1/tickets", json=big)
        chunked = client.post("/api/v1/tickets", content=iter([json.dumps(big).encode()]),
                              headers={"Content-Type": "application/json"})
        files = client.post("/api/v1/tickets", data=ticket(who),
                            files=[("files", ("big.pdf", PDF + b"%" * SMALL,
                                              "application/pdf"))])
    assert declared.status_code == chunked.status_code == files.status_code == 413
    assert "transfer-encoding" not in declared.request.headers
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    assert declared.json() == {"error": f"the request body is over the limit of {SMALL} bytes"}
    assert spool(small) == [] and small.tickets() == []


def test_with_a_trusted_authserv_id_a_submission_still_makes_a_ticket(
        small: PortalInstallation) -> None:
    with small.api() as client:
        answer = client.post("/api/v1/tickets", json=ticket(customer()))
    assert answer.status_code == 201, answer.text
    assert small.show(answer.json()["number"])["unverified"] is False


def test_the_database_unavailable_is_503_and_nothing_spooled(
        small: PortalInstallation) -> None:
    before = small.tickets()
    database = small.tmp / "data" / "maildaemon.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute("ALTER TABLE tickets RENAME TO tickets_away")
    try:
        with small.api() as client:
            answer = client.post("/api/v1/tickets", json=ticket(customer()))
            listed = client.get("/api/v1/tickets", params={"email": customer()})
        assert answer.status_code == 503
        assert answer.json() == {"error": "ticket database unavailable"}
        assert listed.status_code == 503
        assert spool(small) == []
    finally:
        with sqlite3.connect(database) as db:
            db.execute("ALTER TABLE tickets_away RENAME TO tickets")
    assert small.tickets() == before
    with small.api() as client:
        again = client.post("/api/v1/tickets", json=ticket(customer()))
    assert again.status_code == 201
