"""The daily digest end to end: the real `maildaemon serve` makes tickets from mail over
SMTP; `maildaemon digest` (and the worker's own job) send each team address its queues'
open tickets, once a day."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from tests.conftest import DOMAIN, Installation, wait_until

ANN, BOB = "ann@internal.healthsync.com", "bob@internal.healthsync.com"
TESS = "tess@internal.healthsync.com"
TEAMS = f"""
[teams]
billing = ["{ANN}", "{BOB}"]
tech = ["{TESS}"]
"""


def customer_mail(queue: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.org>"
    msg["To"] = f"{queue}@{DOMAIN}"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{queue}.{abs(hash(subject))}@example.org>"
    msg.set_content(body)
    return msg


def digests(inst: Installation) -> list[EmailMessage]:
    found = [message_from_bytes(raw, policy=default) for raw in inst.outbound()]
    return [m for m in found if isinstance(m, EmailMessage)
            and "Daily digest" in str(m["Subject"])]


def nothing_pending(inst: Installation) -> bool:
    return bool(json.loads(inst.cli("outbox", "ls", "--json").stdout) == [])


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.mark.slow
def test_the_digest_command_sends_each_team_address_only_its_queues(tmp_path: Path) -> None:
    inst = Installation(tmp_path, TEAMS)
    inst.start()
    try:
        inst.send(customer_mail("billing", "Invoice charged twice", "Card ending 4242."))
        inst.send(customer_mail("billing", "Payments are failing: refund", "Please refund me."))
        inst.send(customer_mail("tech", "Pump display blank", "Serial PX-99."))
        tickets = inst.wait_processed(3)
        number = {t["subject"]: t["number"] for t in tickets}

        out = inst.cli("digest").stdout
        assert f"{ANN}: [billing] Daily digest: 2 open, 0 overdue: queued" in out
        assert f"{TESS}: [tech] Daily digest: 1 open, 0 overdue: queued" in out
        wait_until(lambda: len(digests(inst)) == 3, what="three digests delivered")
        by_address = {str(m["To"]): m for m in digests(inst)}
        assert sorted(by_address) == sorted([ANN, BOB, TESS])
        for address in (ANN, BOB):
            text = text_of(by_address[address])
            assert number["Invoice charged twice"] in text
            assert number["Payments are failing: refund"] in text
            assert number["Pump display blank"] not in text and "Pump display" not in text
            assert "HIGH (1)" in text and "MEDIUM (1)" in text
        tech = text_of(by_address[TESS])
        assert number["Pump display blank"] in tech and "Invoice" not in tech
        for msg in by_address.values():
            assert str(msg["Auto-Submitted"]) == "auto-generated"
            raw = msg.as_string()
            assert "4242" not in raw and "PX-99" not in raw  # subjects only

        again = inst.cli("digest").stdout
        assert again.count("already sent today") == 3 and "queued" not in again
        wait_until(lambda: nothing_pending(inst), what="an empty outbox")
        assert len(digests(inst)) == 3
    finally:
        inst.kill()


@pytest.mark.slow
def test_the_worker_sends_the_digest_once_even_when_restarted(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    if now.hour == 23 and now.minute >= 58:
        pytest.skip("the day changes during the test")  # "00:00" below would come again
    inst = Installation(tmp_path, TEAMS + '[notifications]\ndigest_at = "00:00"\n')
    inst.start()
    try:
        # Started after today's 00:00, the worker sends the day's digest at once.
        wait_until(lambda: len(digests(inst)) == 3, 20, "the digests of the day")
        assert {str(m["Subject"]) for m in digests(inst)} == {
            "[billing] Daily digest: 0 open, 0 overdue",
            "[tech] Daily digest: 0 open, 0 overdue"}
        inst.stop()
        inst.start()  # as a restart just after the hour: the job runs again
        wait_until(lambda: inst.log.read_text().count("already sent today") == 3, 20,
                   "the restarted worker's digest job")
        wait_until(lambda: nothing_pending(inst), what="an empty outbox")
        assert len(digests(inst)) == 3
    finally:
        inst.kill()
