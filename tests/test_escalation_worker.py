"""Issue 12, points 5 and 6, through the real worker, spool, sweep and SQLite files (no
serve process; the clock is the settable one): what an escalation writes and sends, what a
refusal leaves (nothing on any ticket), the agents' and the sweep's escalations, and the
premium customer's proactive updates.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import Config, config_from_dict
from maildaemon.domain import CustomerChange, EscalationFate, Tier
from maildaemon.escalations import AUTO_REASON, Escalator
from maildaemon.explain import explain
from maildaemon.render import Renderer
from maildaemon.spool import Incoming
from maildaemon.store.readonly import ReadOnlyStore
from maildaemon.sweeps import Sweeper
from maildaemon.workproc import Parts, worker_parts
from tests.conftest import SettableClock

START = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # a Monday
DOMAIN = "healthsync.com"
ANN, KIM, BOSS, LEAD = ("ann@clinic.example", "kim@healthsync.com", "boss@healthsync.com",
                        "lead@healthsync.com")
DORA = "dora@healthsync.com"


def config_for(tmp_path: Path, **escalation: Any) -> Config:
    return config_from_dict({
        "mail": {"domain": DOMAIN},
        "storage": {"data_dir": str(tmp_path / "data")},
        "outbound": {"maildir": str(tmp_path / "out")},
        "teams": {"default": [DORA]},
        "managers": {"escalation": [BOSS]},
        "escalation": {"manager": LEAD, **escalation},
    })


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(START)


@pytest.fixture
def parts(tmp_path: Path, clock: SettableClock) -> Iterator[Parts]:
    made = worker_parts(config_for(tmp_path), clock)
    made.worker.store.upsert_customers(  # type: ignore[attr-defined]
        [CustomerChange(ANN, Tier.PREMIUM, "Dr. Ann Lee", KIM)], START)
    yield made
    made.checkpointer.stop()


def outlook(body: str, subject: str, to: str = f"support@{DOMAIN}", sender: str = ANN,
            message_id: str = "<a1@clinic.example>", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Ann Lee <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Mon, 30 Nov 2026 09:29:00 +0000"
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def run(parts: Parts, msg: EmailMessage, rcpt: str | None = None) -> tuple[str, str | None]:
    sender = email.utils.parseaddr(str(msg["From"]))[1]
    parts.spool.put_many([Incoming(sender, (rcpt or str(msg["To"]),), msg.as_bytes(), "t")])
    [done] = parts.worker.process_batch(1)
    return done.outcome, done.ticket


def sent(parts: Parts, kind: str) -> list[tuple[str, tuple[str, ...], EmailMessage]]:
    rows = parts.worker.store.conn.execute(  # type: ignore[attr-defined]
        "SELECT o.rcpt_to, o.cc_tos, r.raw FROM outbox o JOIN outbox_raw r"
        " ON r.outbox_id = o.id WHERE o.kind = ? ORDER BY o.id", (kind,))
    return [(to, tuple(json.loads(cc)),
             email.message_from_bytes(bytes(raw), policy=email.policy.default))
            for to, cc, raw in rows]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def row(parts: Parts, number: str) -> Any:
    return parts.worker.store.conn.execute(  # type: ignore[attr-defined]
        "SELECT * FROM tickets WHERE number = ?", (number,)).fetchone()


def events(parts: Parts, number: str, type_: str) -> list[str]:
    return [r[0] for r in parts.worker.store.conn.execute(  # type: ignore[attr-defined]
        "SELECT e.detail FROM events e JOIN tickets t ON t.id = e.ticket_id"
        " WHERE t.number = ? AND e.type = ? ORDER BY e.id", (number, type_))]


def opened(parts: Parts) -> str:
    outcome, number = run(parts, outlook("The upload page shows an error.", "Upload page error"))
    assert outcome == "new_ticket" and number
    return number


def test_the_account_manager_is_copied_on_the_ack_and_assigned(parts: Parts) -> None:
    number = opened(parts)
    [(to, cc, ack)] = sent(parts, "ack")
    assert (to, cc) == (ANN, (KIM,))
    assert ack["Cc"] == KIM and ack["To"] == ANN
    assert row(parts, number)["assignee"] == KIM
    assert row(parts, number)["proactive"] == 1


def test_mail_to_escalation_escalates_and_tells_everyone(parts: Parts,
                                                         clock: SettableClock) -> None:
    number = opened(parts)
    clock.now += timedelta(hours=1)
    request = outlook(f"Ticket {number}: nobody has answered and the clinic is waiting.",
                      "Escalation", to=f"escalation@{DOMAIN}", message_id="<e1@clinic.example>")
    assert run(parts, request) == ("followup", number)
    ticket = row(parts, number)
    assert (ticket["priority"], ticket["queue"], ticket["assignee"], ticket["escalated"]) == \
        ("high", "escalation", LEAD, 1)
    assert ticket["first_response_due"] == "2026-11-30T12:30:00Z"  # now + premium high 2 h
    [detail] = events(parts, number, "escalated")
    assert detail.startswith(f"by {ANN}: Ticket {number}: nobody has answered")
    assert "priority medium -> high; queue support -> escalation; assigned to " + LEAD \
        in detail
    [(to, _, confirmation)] = sent(parts, "escalation_confirmed")
    assert to == ANN and confirmation["From"].addresses[0].addr_spec == f"escalation@{DOMAIN}"
    assert str(confirmation["Subject"]) == f"[{number}] Upload page error"
    assert confirmation["In-Reply-To"] == "<e1@clinic.example>"
    words = text_of(confirmation)
    assert "New priority: high" in words and "Response target: within 2 hours" in words
    assert "Monday 30 November 2026, 12:30 (UTC)" in words
    told = {to: note for to, _, note in sent(parts, "notify_escalated")}
    assert set(told) == {DORA, BOSS, KIM}  # the queue's team, its manager, Ann's manager
    assert all("Escalated: by " + ANN in text_of(note) for note in told.values())


def test_a_stranger_changes_nothing_and_is_answered_off_the_ticket(parts: Parts) -> None:
    number = opened(parts)
    before = dict(row(parts, number))
    request = outlook(f"Escalate {number} now.", "Escalation", to=f"escalation@{DOMAIN}",
                      sender="eve@example.net", message_id="<eve1@example.net>")
    assert run(parts, request) == ("escalation_refused", None)
    assert dict(row(parts, number)) == before
    assert events(parts, number, "escalation_request") == []
    [(to, _, answer)] = sent(parts, "escalation_refused")
    assert to == "eve@example.net"
    assert str(answer["Subject"]) == f"[{number}] Your escalation request"
    conn = parts.worker.store.conn  # type: ignore[attr-defined]
    assert conn.execute("SELECT ticket_id FROM outbox WHERE kind = 'escalation_refused'"
                        ).fetchone()[0] is None
    assert [tuple(r) for r in conn.execute("SELECT reason FROM automatic_mail")] == \
        [("escalation_refused",)]
    assert conn.execute("SELECT count(*) FROM recent_replies WHERE rcpt_to = ?",
                        ("eve@example.net",)).fetchone()[0] == 1
    assert run(parts, request) == ("duplicate", None)  # the same mail again: nothing


def test_an_agent_and_the_sweep_escalate_through_the_same_steps(
        tmp_path: Path, parts: Parts, clock: SettableClock) -> None:
    number = opened(parts)
    store = parts.worker.store
    escalator = Escalator(parts.worker.config, store,  # type: ignore[arg-type]
                          Renderer(DOMAIN, parts.worker.secret))
    ticket_id = row(parts, number)["id"]
    with store.transaction():  # off by default: nothing happens
        assert escalator.on_first_response_breach(ticket_id, clock.now) is None
    assert row(parts, number)["escalated"] == 0
    auto = Escalator(config_for(tmp_path, auto_on_first_response_breach=True), store,  # type: ignore[arg-type]
                     Renderer(DOMAIN, parts.worker.secret))
    with store.transaction():
        esc = auto.on_first_response_breach(ticket_id, clock.now)
    assert esc is not None and esc.fate == EscalationFate.ESCALATED
    assert row(parts, number)["priority"] == "high"
    assert events(parts, number, "escalated") == [
        f"by the sweep: {AUTO_REASON} (priority medium -> high; queue support -> "
        f"escalation; assigned to {LEAD})"]
    assert [to for to, _, _ in sent(parts, "escalation_confirmed")] == [ANN]
    assert {to for to, _, _ in sent(parts, "notify_escalated")} == {DORA, BOSS, KIM}
    with store.transaction():  # once only
        assert auto.on_first_response_breach(ticket_id, clock.now) is None
        again = escalator.escalate(number, "an agent", "still", clock.now)
    assert again is not None and again.fate == EscalationFate.ALREADY
    assert row(parts, number)["priority"] == "high"
    assert len(sent(parts, "escalation_confirmed")) == 1
    assert events(parts, number, "escalation_repeated") == [
        "already escalated; asked again by an agent: still"]


def test_an_agents_escalate_command_is_the_same_escalation(parts: Parts) -> None:
    number = opened(parts)
    note = sent(parts, "notify_new_ticket")[0][2]
    tag = note["Reply-To"].addresses[0].addr_spec
    answer = outlook("#escalate\n#note-only\nThe clinic's contract says 4 hours.",
                     f"Re: [{number}] New ticket: Upload page error", to=tag, sender=DORA,
                     message_id="<dora1@healthsync.com>")
    del answer["From"]
    answer["From"] = DORA
    assert run(parts, answer, tag) == ("agent_comment", number)
    ticket = row(parts, number)
    assert (ticket["priority"], ticket["queue"], ticket["escalated"]) == \
        ("high", "escalation", 1)
    assert ticket["assignee"] == LEAD
    [detail] = events(parts, number, "escalated")
    assert detail.startswith(f"by {DORA}'s mail: The clinic's contract says 4 hours.")
    assert [to for to, _, _ in sent(parts, "escalation_confirmed")] == [ANN]
    assert {to for to, _, _ in sent(parts, "notify_escalated")} == {BOSS, KIM}  # not Dora
    [(_, _, confirmation)] = sent(parts, "agent_confirmation")
    assert "#escalate" in text_of(confirmation)


def test_a_premium_ticket_gets_one_update_per_interval(parts: Parts,
                                                       clock: SettableClock) -> None:
    number = opened(parts)
    sweeper = Sweeper(parts.worker.config, parts.worker.store,  # type: ignore[arg-type]
                      Renderer(DOMAIN, parts.worker.secret))

    def sweep(hours: float) -> int:
        clock.now = START + timedelta(hours=hours)
        return sweeper.run(clock.now)["proactive_update"]

    # Opened Monday 09:30: two business days (9-17) later is Wednesday 09:30.
    assert [sweep(h) for h in (0, 1, 47.9)] == [0, 0, 0]
    assert row(parts, number)["next_update_at"] == "2026-12-02T09:30:00Z"
    assert [sweep(48), sweep(48), sweep(49)] == [1, 0, 0]
    [(to, _, update)] = sent(parts, "proactive_update")
    words = text_of(update)
    assert to == ANN and "Status: received" in words and f"Assigned to: {KIM}" in words
    assert "Next: our first answer, due by Tuesday 1 December 2026, 09:30 (UTC) (we are late"\
        in words
    assert update["Auto-Submitted"] == "auto-generated"
    assert sweep(96) == 1  # Friday 09:30: the next interval
    # An agent answers on Friday: the interval starts again from that answer.
    tag = sent(parts, "notify_new_ticket")[0][2]["Reply-To"].addresses[0].addr_spec
    answer = outlook("We are on it; a fix is being tested.", f"Re: [{number}] x", to=tag,
                     sender=DORA, message_id="<dora2@healthsync.com>")
    del answer["From"]
    answer["From"] = DORA
    clock.now = START + timedelta(hours=97)
    assert run(parts, answer, tag) == ("agent_answer", number)
    assert [sweep(h) for h in (98, 150, 192.9)] == [0, 0, 0]  # until Tuesday 10:30
    assert sweep(193) == 1
    assert len(sent(parts, "proactive_update")) == 3
    assert "Next: our next update by" in text_of(sent(parts, "proactive_update")[-1][2])


def test_no_updates_while_waiting_on_the_customer_nor_for_free_customers(
        parts: Parts, clock: SettableClock) -> None:
    number = opened(parts)
    free = run(parts, outlook("Where is my invoice?", "Invoice", sender="bob@example.org",
                              message_id="<b1@example.org>"))[1]
    assert free is not None and row(parts, free)["proactive"] == 0
    store = parts.worker.store
    with store.transaction():
        store.set_status(row(parts, number)["id"], "waiting",  # type: ignore[arg-type]
                         "2026-11-30T10:00:00Z", None)
    sweeper = Sweeper(parts.worker.config, store,  # type: ignore[arg-type]
                      Renderer(DOMAIN, parts.worker.secret))
    for days in (1, 3, 6):
        clock.now = START + timedelta(days=days)
        assert sweeper.run(clock.now)["proactive_update"] == 0
    assert row(parts, number)["next_update_at"] is None
    with store.transaction():  # back to open: looked at again, from then on
        store.set_status(row(parts, number)["id"], "open",  # type: ignore[arg-type]
                         "2026-12-07T10:00:00Z", None)
    clock.now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert sweeper.run(clock.now)["proactive_update"] == 0
    assert row(parts, number)["next_update_at"] == "2026-12-09T10:00:00Z"


def test_decide_explains_an_escalation_and_a_refusal_without_writing(
        tmp_path: Path, parts: Parts) -> None:
    """`maildaemon decide` on the read-only database: the same decision the worker makes."""
    number = opened(parts)
    config = parts.worker.config
    reads = ReadOnlyStore(config.data_dir)
    try:
        mine = explain(config, reads, outlook(f"Escalate {number}", "Help",
                                              to=f"escalation@{DOMAIN}").as_bytes(),
                       None, (), START)
        eve = explain(config, reads, outlook(f"Escalate {number}", "Help",
                                             to=f"escalation@{DOMAIN}",
                                             sender="eve@example.net").as_bytes(),
                      None, (), START)
    finally:
        reads.close()
    assert (mine["outcome"], mine["ticket"], mine["queue"]) == ("followup", number, "support")
    assert [r["template"] for r in mine["replies"]] == ["escalation_confirmed"]
    assert eve["outcome"] == "escalation_refused" and eve["ticket"] is None
    assert eve["replies"] == [{"template": "escalation_refused", "to": "eve@example.net",
                               "from": f"escalation@{DOMAIN}",
                               "subject": f"[{number}] Your escalation request"}]
    assert row(parts, number)["escalated"] == 0
