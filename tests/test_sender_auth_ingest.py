"""Issue 13, point 5, through the real pipeline (`maildaemon ingest`, as an MTA's pipe
transport runs it): what an unverified mail leaves in the database, what `show`, `tickets`
and `decide` print, what the customer and the team receive; and `check-config` on a bad
authserv-id. The same over SMTP with the daemon is in test_sender_auth_e2e.py.
"""

from __future__ import annotations

import json
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import ConfigError, config_from_dict
from tests.conftest import DOMAIN, FIXTURES, Installation, check_config

OUR_MTA = "mx.healthsync.com"
ALICE = "alice@example.org"
AGENTS = "agents@healthsync.com"


def trusting(tmp: Path, authserv_id: str = OUR_MTA) -> Installation:
    inst = Installation(tmp, extra_config=f'[teams]\ndefault = ["{AGENTS}"]\n')
    inst.config.write_text(inst.config.read_text().replace(
        "[mail]\n", f'[mail]\ntrusted_authserv_id = "{authserv_id}"\n'))
    return inst


def through_our_mta(msg: EmailMessage | bytes, *results: str) -> bytes:
    """The message as our MTA hands it on: its verdicts and its Received line on top."""
    raw = msg if isinstance(msg, bytes) else msg.as_bytes()
    top = "".join(f"Authentication-Results: {OUR_MTA}; {r}\r\n" for r in results)
    return (top + f"Received: from out.example.org by {OUR_MTA} (Postfix) with ESMTPS id "
            "4Xk2Lq1sZ9z9sW1\r\n").encode() + raw


def outlook_opening(sender: str = ALICE) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Alice Example <{sender}>"
    msg["To"] = f"support@{DOMAIN}"
    msg["Subject"] = "Cannot log in"
    msg["Message-ID"] = "<DB9PR04MB8123.open1@DB9PR04MB8123.eurprd04.prod.outlook.com>"
    msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    msg.set_content("Since this morning the app says my password is wrong.")
    msg.add_alternative("<html><body><p>Since this morning the app says my password is "
                        "wrong.</p></body></html>", subtype="html")
    return msg


def ingest(inst: Installation, raw: bytes, sender: str = ALICE) -> str:
    out = inst.cli("ingest", "--sender", sender, "--rcpt", f"support@{DOMAIN}", "-",
                   stdin=raw).stdout
    return out.strip()


def spoofed_reply(number: str, ack_id: str) -> bytes:
    """Thunderbird's reply as it reached our MTA from a stranger's server: dmarc=fail."""
    raw = (FIXTURES / "auth_customer_dmarc_fail_thunderbird.eml").read_bytes()
    return raw.replace(b"HS-000000", number.encode()).replace(b"<ACK-MESSAGE-ID>",
                                                              ack_id.encode())


def sent(inst: Installation) -> list[EmailMessage]:
    return [message_from_bytes(raw, policy=default) for raw in inst.outbound()]  # type: ignore[misc]


def body_of(msg: EmailMessage) -> str:
    return "\n".join(str(part.get_content()) for part in msg.walk()
                     if part.get_content_type() in ("text/plain", "text/html"))


def opened(inst: Installation) -> tuple[str, EmailMessage]:
    ingest(inst, through_our_mta(outlook_opening(),
                                 "dmarc=pass (p=quarantine dis=none) header.from=example.org"))
    [ticket] = inst.tickets()
    [ack] = [m for m in sent(inst) if str(m["To"]) == ALICE]
    return str(ticket["number"]), ack


def test_a_spoofed_reply_opens_an_unverified_ticket_and_the_real_one_is_untouched(
        tmp_path: Path) -> None:
    inst = trusting(tmp_path)
    number, ack = opened(inst)
    assert inst.show(number)["unverified"] is False
    reply = spoofed_reply(number, str(ack["Message-ID"]))
    # `decide` first: what it would do, and why, with nothing written.
    eml = tmp_path / "reply.eml"
    eml.write_bytes(reply)
    data: dict[str, Any] = json.loads(inst.cli("decide", str(eml), "--json").stdout)
    assert data["outcome"] == "new_ticket" and data["ticket"] is None
    assert data["new_ticket"]["unverified"] == "dmarc=fail for example.org"
    assert data["new_ticket"]["related"] == [number]
    assert {"step": "sender_unverified", "hit": True, "kept": True,
            "detail": f"{OUR_MTA}: dmarc=fail for example.org"} in data["trace"]
    assert "unverified: dmarc=fail for example.org" in inst.cli("decide", str(eml)).stdout
    assert len(inst.tickets()) == 1
    ingest(inst, reply)
    tickets = inst.tickets()
    assert len(tickets) == 2
    new = next(t["number"] for t in tickets if t["number"] != number)
    shown = inst.show(new)
    assert shown["unverified"] is True and shown["related"] == [number]
    assert shown["requester"] == ALICE and shown["status"] == "new"
    events = {(e["type"], e["detail"]) for e in shown["events"]}
    assert ("sender_unverified", f"{OUR_MTA}: dmarc=fail for example.org") in events
    assert ("unverified_not_joined", f"{ALICE} via header of {number}: "
                                     "dmarc=fail for example.org") in events
    # The requester's ticket: one message of theirs still, linked, told how.
    original = inst.show(number)
    assert original["unverified"] is False and original["status"] == "new"
    assert [m["direction"] for m in original["messages"]] == ["inbound", "outbound"]
    assert original["related"] == [new]
    assert {"type": "related", "detail": f"{new} was opened by an unverified mail from "
            f"{ALICE}"} in [{k: e[k] for k in ("type", "detail")} for e in original["events"]]
    # What people read: show's warning, the listing's mark.
    assert "UNVERIFIED: our MTA did not vouch" in inst.cli("show", new).stdout
    listing = inst.cli("tickets").stdout.splitlines()
    assert [line.endswith("[unverified]") for line in listing] == \
        [new in line for line in listing]
    # The acknowledgement of the new ticket says nothing of the other one: its number is
    # there only inside the subject the mail itself carried, echoed.
    [new_ack] = [m for m in sent(inst) if str(m["To"]) == ALICE
                 and str(m["Subject"]).startswith(f"[{new}]")]
    text = body_of(new_ack)
    assert new in text and "continues your earlier ticket" not in text
    assert number not in text.replace(f"Re: [{number}] Cannot log in", "")
    assert "could not confirm that this message was sent from your address" in \
        " ".join(text.split())
    # The team hears of the new ticket, warned, and nothing of a reply on the old one.
    notes = [m for m in sent(inst) if str(m["To"]) == AGENTS]
    assert [str(m["Subject"]).split("]")[0] for m in notes] == [f"[{number}", f"[{new}"]
    assert "NOT VERIFIED (dmarc=fail for example.org)" in body_of(notes[1])
    assert "NOT VERIFIED" not in body_of(notes[0])


def test_a_verified_reply_joins_the_ticket(tmp_path: Path) -> None:
    """No DMARC record for the domain, but a DKIM signature of its own: verified."""
    verdict = "dmarc=none header.from=example.org; dkim=pass header.d=example.org"
    inst = trusting(tmp_path)
    number, ack = opened(inst)
    reply = spoofed_reply(number, str(ack["Message-ID"]))
    ingest(inst, through_our_mta(reply[reply.index(b"Received:"):], verdict))
    assert [t["number"] for t in inst.tickets()] == [number]
    assert [m["direction"] for m in inst.show(number)["messages"]].count("inbound") == 2


def test_another_mtas_failed_verdict_is_ignored(tmp_path: Path) -> None:
    """The setting names another MTA: the header is someone else's (a sender can write
    one), so the reply joins as it would without any (test_sender_auth_policy.py has
    the same without the setting)."""
    inst = trusting(tmp_path, "mx.other.example")
    number, ack = opened(inst)
    ingest(inst, spoofed_reply(number, str(ack["Message-ID"])))
    assert [t["number"] for t in inst.tickets()] == [number]
    shown = inst.show(number)
    assert shown["unverified"] is False
    assert [m["direction"] for m in shown["messages"]].count("inbound") == 2
    # Joined as the customer's reply: confirmed, or (within the hour of the ack) not, by
    # the one-confirmation-an-hour limit; never a linked ticket's acknowledgement.
    assert any(e["type"] in ("ack_limit", "customer_reply") for e in shown["events"])


@pytest.mark.parametrize("value", ["mx.example.com; dmarc=pass", "mx example", "mx=1",
                                   'mx"q"', "mx (ours)"])
def test_what_is_no_authserv_id_is_refused_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match="mail.trusted_authserv_id must be an authserv-id"):
        config_from_dict({"mail": {"trusted_authserv_id": value}})


def test_check_config_exits_78_on_it(tmp_path: Path) -> None:
    result = check_config(tmp_path, '[mail]\ntrusted_authserv_id = "mx.example.com; dmarc=pass"\n'
                          f"[storage]\ndata_dir = \"{tmp_path / 'data'}\"\n")
    assert result.returncode == 78, result.stdout + result.stderr
    assert "mail.trusted_authserv_id" in result.stderr and "Traceback" not in result.stderr
    assert config_from_dict({"mail": {"trusted_authserv_id": " mx.healthsync.com "}})
