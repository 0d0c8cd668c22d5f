"""Issue 14, `maildaemon outbox retry ID` and `maildaemon stats [--json]` on real data: mail
ingested through the real pipeline, replies to a relay that refuses connections, the real
CLI as a subprocess (outbox_cli.py, stats_cli.py, store/ops.py, spool_admin.py)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from maildaemon.spool import Incoming, Spool
from tests.conftest import DOMAIN, Installation, free_port, header_of, mail


def outbound(inst: Installation, transport: str, max_attempts: int) -> None:
    """Point the installation's outbound mail at a relay nobody listens on, or back at
    its maildir (the sections `write_config` wrote, rewritten in place)."""
    text = inst.config.read_text()
    head, _, _ = text.partition("[outbound]")
    inst.config.write_text(
        f"{head}[outbound]\ntransport = \"{transport}\"\nmaildir = \"{inst.tmp / 'outbound'}\"\n"
        f"relay_host = \"127.0.0.1\"\nrelay_port = {free_port()}\n"
        f"max_attempts = {max_attempts}\nretry_base_seconds = 600.0\n")


def ingest(inst: Installation, *messages: Any) -> None:
    paths = [inst.tmp / f"in{n}.eml" for n in range(len(messages))]
    for path, msg in zip(paths, messages, strict=True):
        path.write_bytes(bytes(msg))
    inst.cli("ingest", *map(str, paths))


def outbox(inst: Installation) -> list[dict[str, Any]]:
    return list(json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout))


def stats(inst: Installation) -> dict[str, Any]:
    return dict(json.loads(inst.cli("stats", "--json").stdout))


def test_a_failed_delivery_retried_is_sent_with_its_message_id(
        installation: Installation) -> None:
    outbound(installation, "smtp", max_attempts=1)
    ingest(installation, mail("Não consigo entrar", sender="ana@example.pt"))
    [row] = outbox(installation)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert stats(installation)["outbox"]["failed"] == 1

    result = installation.cli("outbox", "retry", str(row["id"]))
    assert f"outbox row {row['id']} to ana@example.pt: failed -> pending, due now" \
        in result.stdout
    assert "last error: " in result.stdout
    [again] = outbox(installation)
    assert again["status"] == "pending" and again["attempts"] == 0

    outbound(installation, "maildir", max_attempts=1)  # the relay is mended
    installation.cli("flush")
    [sent] = outbox(installation)
    assert sent["status"] == "sent"
    [delivered] = installation.outbound()
    assert header_of(delivered, "Message-ID") == row["message_id"]

    refused = installation.cli("outbox", "retry", str(row["id"]), check=False)
    assert refused.returncode == 1 and "was sent at" in refused.stderr
    unknown = installation.cli("outbox", "retry", "9999", check=False)
    assert unknown.returncode == 1 and "no outbox row 9999" in unknown.stderr


def test_a_deferred_delivery_retried_is_due_now(installation: Installation) -> None:
    outbound(installation, "smtp", max_attempts=5)
    ingest(installation, mail("Printer on fire"))
    [row] = outbox(installation)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert row["next_attempt_at"] > datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = stats(installation)["outbox"]
    assert (before["pending"], before["deferred"], before["due"]) == (1, 1, 0)

    installation.cli("outbox", "retry", str(row["id"]))
    [again] = outbox(installation)
    assert again["attempts"] == 0
    assert again["next_attempt_at"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    after = stats(installation)["outbox"]
    assert (after["pending"], after["deferred"], after["due"]) == (1, 0, 1)
    assert after["oldest_due_at"] == again["next_attempt_at"]


def test_stats_counts_tickets_backlog_and_breaches(installation: Installation) -> None:
    ingest(installation,
           mail("Rechnung doppelt", sender="juergen@example.de", to=f"billing@{DOMAIN}"),
           mail("The system is down", sender="bob@example.com", to=f"tech@{DOMAIN}",
                body="Our system is down since 9:00."),
           mail("Question", sender="carla@example.it"),
           mail("Printer on fire", sender="dan@example.org"))
    numbers = {t["subject"]: t["number"] for t in installation.tickets()}
    installation.cli("status", numbers["Question"], "resolved")
    # A week on, every unanswered ticket has missed its first-response target.
    later = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    installation.cli("sweep", "--now", later)
    data = Path(installation.tmp / "data")
    spool = Spool(data)
    try:
        held = spool.put(Incoming("x@example.org", (f"support@{DOMAIN}",), b"Subject: x\r\n"))
        for _ in range(3):
            entry = spool.claim(held)
            assert entry is not None
            spool.release(entry.id, "boom")
        spool.put(Incoming("y@example.org", (f"support@{DOMAIN}",), b"Subject: y\r\n"))
        waiting_since = spool.rows("pending")[0].received_at
    finally:
        spool.close()

    result = stats(installation)
    tickets = result["tickets"]
    assert tickets["total"] == 4
    assert tickets["by_queue"] == {"billing": 1, "support": 2, "tech": 1}
    assert tickets["by_priority"] == {"critical": 0, "high": 1, "medium": 3, "low": 0}
    assert sum(tickets["by_status"].values()) == 4
    assert tickets["by_status"]["closed"] == 1  # resolved, closed by the week's sweep
    assert set(tickets["by_status"]) == {"new", "open", "waiting", "on_hold", "resolved",
                                         "closed"}
    assert result["spool"]["pending"] == 1 and result["spool"]["held"] == 1
    assert result["held"] == 1 and result["spool"]["claimed"] == 0
    assert result["spool"]["oldest_waiting_at"] == waiting_since
    assert result["spool"]["oldest_waiting_seconds"] >= 0
    assert result["outbox"]["sent"] >= 4 and result["outbox"]["failed"] == 0
    with sqlite3.connect(data / "maildaemon.sqlite3") as conn:
        missed, missed_open = conn.execute(
            "SELECT sum(response_breached), sum(response_breached * (status NOT IN"
            " ('resolved', 'closed'))) FROM tickets").fetchone()
    assert missed_open == 3  # the three unanswered, still open
    assert result["sla_breaches"]["first_response"] == missed
    assert result["sla_breaches"]["first_response_open"] == missed_open

    text = installation.cli("stats").stdout
    assert "tickets: 4" in text
    assert "by queue: billing 1, support 2, tech 1" in text
    assert "spool: 1 pending, 0 claimed, 1 held, oldest waiting since" in text
    assert f"first response {missed} ({missed_open} on open tickets)" in text


def test_stats_on_a_new_installation_is_all_zero(installation: Installation) -> None:
    result = stats(installation)
    assert result["tickets"]["total"] == 0 and result["tickets"]["by_queue"] == {}
    assert result["spool"] == {"pending": 0, "claimed": 0, "held": 0,
                               "oldest_waiting_at": None, "oldest_waiting_seconds": None}
    assert result["outbox"] == {"pending": 0, "failed": 0, "sent": 0, "due": 0,
                                "oldest_due_at": None, "deferred": 0}
