"""Issue 18, point 10 (delivery half) and the outbound EHLO name.

An agent's reply to a ticket's people is one message in one relay transaction (To the
requester, Cc the others), to at most `[mail] max_participants` addresses even on a ticket
from before the cap; a recipient the relay refuses is recorded and the others still get it.
"""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from tests.conftest import DOMAIN, Installation, mail, wait_until
from tests.outbound_sink import (
    RecordingRelay,
    outbox,
    raw_mail,
    relay,
    relay_config,
    set_config,
    wait_outbox_settled,
    write_mails,
)

PEOPLE = [f"p{i}@example.org" for i in range(1, 7)]


def _ticket_with_people(inst: Installation, tmp: Path) -> str:
    inst.cli("ingest", *write_mails(tmp, raw_mail(
        "Ann <ann@example.org>", "VPN down", "<r1@example.org>", cc=", ".join(PEOPLE))))
    [ticket] = inst.tickets()
    return str(ticket["number"])


def _reply(inst: Installation, number: str, tmp: Path) -> str:
    body = tmp / "answer.txt"
    body.write_text("We restarted the VPN gateway.")
    return inst.cli("reply", number, "--from", "sam@healthsync.com",
                    "--body-file", str(body)).stdout


def _replies(sink: RecordingRelay) -> list[tuple[list[str], str, str]]:
    out = []
    for t in sink.received:
        msg = message_from_bytes(t.data, policy=default)
        if "We restarted" in str(msg.get_body(("plain",)).get_content()):  # type: ignore[union-attr]
            out.append((t.rcpt_tos, str(msg["To"]), str(msg["Cc"])))
    return out


def test_a_reply_is_one_message_to_the_requester_with_the_others_copied(
    tmp_path: Path,
) -> None:
    with relay(smtputf8=False) as (sink, port):
        inst = Installation(tmp_path, extra_config=relay_config(port))
        set_config(inst, "mail", "max_participants = 20")
        number = _ticket_with_people(inst, tmp_path)
        _reply(inst, number, tmp_path)

        [(rcpts, to, cc)] = _replies(sink)
        assert rcpts == ["ann@example.org", *PEOPLE]
        assert to == "ann@example.org"
        assert cc == ", ".join(PEOPLE)
        [row] = [r for r in outbox(inst) if r["kind"] == "agent_reply"]
        assert (row["status"], row["rcpt_to"], row["last_error"]) == \
            ("sent", "ann@example.org", "")


def test_a_reply_on_an_old_ticket_is_capped_at_max_participants(tmp_path: Path) -> None:
    with relay(smtputf8=False) as (sink, port):
        inst = Installation(tmp_path, extra_config=relay_config(port))
        set_config(inst, "mail", "max_participants = 20")
        number = _ticket_with_people(inst, tmp_path)
        assert len(inst.show(number)["participants"]) == 7
        inst.config.write_text(inst.config.read_text().replace(
            "max_participants = 20", "max_participants = 3"))  # lowered since
        said = _reply(inst, number, tmp_path)

        [(rcpts, to, cc)] = _replies(sink)
        assert rcpts == ["ann@example.org", "p1@example.org", "p2@example.org"]
        assert (to, cc) == ("ann@example.org", "p1@example.org, p2@example.org")
        assert "not mailed: p3@example.org, p4@example.org" in said


def test_a_refused_recipient_is_recorded_and_the_others_get_the_reply(
    tmp_path: Path,
) -> None:
    with relay(smtputf8=False) as (sink, port):
        sink.refuse["p2@example.org"] = "550 5.1.1 no such user"
        inst = Installation(tmp_path, extra_config=relay_config(port))
        number = _ticket_with_people(inst, tmp_path)
        _reply(inst, number, tmp_path)
        assert inst.cli("flush").returncode == 0

        [(rcpts, _, _)] = _replies(sink)  # once: the refusal does not make it go again
        assert "p2@example.org" not in rcpts and "p3@example.org" in rcpts
        [row] = [r for r in outbox(inst) if r["kind"] == "agent_reply"]
        assert row["status"] == "sent"
        assert row["last_error"] == \
            "not delivered to p2@example.org: 550 5.1.1 no such user"


@pytest.mark.slow
def test_the_relay_is_greeted_with_smtp_hostname(tmp_path: Path) -> None:
    with relay(smtputf8=False) as (sink, port):
        inst = Installation(tmp_path, extra_config=relay_config(port))
        set_config(inst, "smtp", 'hostname = "mx1.healthsync.com"')
        inst.start()
        try:
            inst.send(mail(sender="ehlo@example.org"), rcpts=[f"support@{DOMAIN}"])
            wait_until(lambda: sink.received, 30, "the acknowledgement at the relay")
            wait_outbox_settled(inst)
        finally:
            inst.kill()
        assert [t.ehlo_name for t in sink.received] == ["mx1.healthsync.com"]
