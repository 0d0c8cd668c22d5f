"""Several `serve` nodes on one PostgreSQL (issue 15, 2-4): each with its own data_dir,
spool, SMTP port and outbound maildir, all on one database.

What the tests count is read from the database (tickets, inbound messages, outbox rows)
and from the maildirs; a message counts only when its SMTP transaction got 250. Before
anything is asserted about mail sent, the outbox has nothing pending and both spools are
empty. The reminder's tickets are put in their waiting state by SQL (the state an agent's
"waiting" reply leaves), so that many are due at once and two sweeps really overlap.
"""

from __future__ import annotations

import json
import smtplib
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import Installation, free_port, header_of, mail, wait_until
from tests.pg_server import PgServer

pytestmark = pytest.mark.slow


def two_nodes(tmp: Path, url: str, extra: str = "") -> tuple[Installation, Installation]:
    nodes = []
    for name in ("a", "b"):
        (tmp / name).mkdir()
        nodes.append(Installation(tmp / name, extra, database=url))
    return nodes[0], nodes[1]


def start(url: str, *nodes: Installation) -> None:
    """Start the nodes and wait for the schema that the first worker creates."""
    for node in nodes:
        node.start()
    wait_until(lambda: query(url, "SELECT to_regclass('outbox')")[0][0] is not None, 30,
               "the schema")


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def deliver(node: Installation, sender: str, raw: bytes) -> bool:
    """One SMTP transaction; True only for a 250."""
    try:
        with smtplib.SMTP("127.0.0.1", node.port, timeout=10) as client:
            client.sendmail(sender, ["support@healthsync.com"], raw)
        return True
    except (OSError, smtplib.SMTPException):
        return False


def settle(url: str, nodes: list[Installation], timeout: float = 60) -> None:
    """Both spools empty and nothing pending in the outbox (then nothing more is sent)."""
    def done() -> bool:
        try:
            pending = query(url, "SELECT count(*) FROM outbox WHERE status = 'pending'")[0][0]
        except psycopg.errors.UndefinedTable:  # the first worker has not created it yet
            return False
        if pending:
            time.sleep(0.3)
            return False
        return all(json.loads(n.cli("spool", "ls", "--json").stdout) == [] for n in nodes) \
            and query(url, "SELECT count(*) FROM outbox WHERE status = 'pending'")[0][0] == 0
    wait_until(done, timeout, "empty spools and no outbox row pending")


def tickets_by_message(url: str) -> dict[str, list[int]]:
    rows = query(url, "SELECT message_id, ticket_id FROM messages WHERE direction = 'inbound'")
    found: dict[str, list[int]] = {}
    for message_id, ticket_id in rows:
        found.setdefault(message_id, []).append(ticket_id)
    return found


def acks_by_ticket(url: str) -> dict[int, int]:
    rows = query(url, "SELECT t.id, count(o.id) FROM tickets t LEFT JOIN outbox o"
                      " ON o.ticket_id = t.id AND o.kind = 'ack' GROUP BY t.id")
    return {int(t): int(n) for t, n in rows}


def assert_once_each(url: str, accepted: list[str]) -> None:
    """Every accepted message is on exactly one ticket, and every ticket has one ack."""
    found = tickets_by_message(url)
    missing = [m for m in accepted if m not in found]
    assert not missing, f"{len(missing)} accepted messages on no ticket: {missing[:3]}"
    doubled = {m: t for m, t in found.items() if len(t) != 1}
    assert not doubled, f"messages stored more than once: {list(doubled.items())[:3]}"
    acks = acks_by_ticket(url)
    assert set(acks.values()) == {1}, {t: n for t, n in acks.items() if n != 1}
    assert query(url, "SELECT count(*) FROM outbox WHERE status != 'sent'")[0][0] == 0


def delivered_ids(nodes: list[Installation], kind_subject: str = "") -> list[str]:
    return [header_of(raw, "Message-ID") for n in nodes for raw in n.outbound()
            if kind_subject in header_of(raw, "Subject")]


def lock_waiters(url: str) -> int:
    """The daemons' database sessions waiting for a lock."""
    return int(query(url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type ="
                          " 'Lock' AND datname = current_database()")[0][0])


def test_one_message_at_both_nodes_is_one_ticket_and_one_ack(tmp_path: Path,
                                                              pg_server: PgServer) -> None:
    """Each message reaches both MX hosts (a lost 250, retried at the other). At first the
    test holds a lock that stops every write to `processed`, until both workers wait on
    it (or on each other) with the same message judged new: then both write it at once,
    and the unique key must turn one of them into a duplicate."""
    url = pg_server.fresh_database()
    a, b = two_nodes(tmp_path, url)
    start(url, a, b)
    try:
        accepted = []
        with psycopg.connect(url) as gate, ThreadPoolExecutor(4) as pool:
            gate.execute("LOCK TABLE processed IN SHARE MODE")  # reads pass, writes wait
            for i in range(20):
                msg = mail(sender=f"both{i}@example.org", subject=f"Pump {i} at both MX",
                           body=f"Pump {i} stopped.")
                both = [pool.submit(deliver, n, f"both{i}@example.org", bytes(msg))
                        for n in (a, b)]
                assert [f.result() for f in both] == [True, True]
                accepted.append(str(msg["Message-ID"]))
            wait_until(lambda: lock_waiters(url) >= 2, 20, "both workers writing")
            gate.commit()
        settle(url, [a, b])
        assert len(acks_by_ticket(url)) == 20
        assert_once_each(url, accepted)
        lost = a.log.read_text() + b.log.read_text()
        assert "another node wrote it first" in lost  # the race took place, and was lost
        # Both senders delivered the outbox, each row once (leases skip each other's rows).
        acks = [header_of(r, "Message-ID") for n in (a, b) for r in n.outbound()]
        assert len(acks) == 20 == len(set(acks))
    finally:
        a.stop()
        b.stop()


def test_two_replies_to_one_ticket_at_two_nodes_both_land_in_order(
        tmp_path: Path, pg_server: PgServer) -> None:
    """The customer answers twice within a second, each reply reaching another node. The
    test holds the ticket's row until the first node's worker waits on it, then lets the
    second arrive and wait too: both replies land on the ticket, the first first."""
    url = pg_server.fresh_database()
    a, b = two_nodes(tmp_path, url)
    start(url, a, b)
    try:
        opening = mail(sender="rita@example.org", subject="Insulin pump shows E7")
        assert deliver(a, "rita@example.org", bytes(opening))
        settle(url, [a, b])
        [(ticket_id, number)] = query(url, "SELECT id, number FROM tickets")
        replies = []
        for n, node in enumerate((a, b)):
            reply = mail(sender="rita@example.org", subject=f"Re: [{number}] Insulin pump"
                         " shows E7", body=f"Reply {n + 1}: it happened again.",
                         In_Reply_To=str(opening["Message-ID"]))
            replies.append((node, reply))
        with psycopg.connect(url) as gate:
            gate.execute("SELECT id FROM tickets WHERE id = %s FOR UPDATE", (ticket_id,))
            for waiting, (node, reply) in enumerate(replies, start=1):
                assert deliver(node, "rita@example.org", bytes(reply))
                wait_until(lambda w=waiting: lock_waiters(url) >= w, 20,
                           f"{waiting} worker(s) waiting on the ticket")
            gate.commit()
        settle(url, [a, b])
        rows = query(url, "SELECT message_id, ticket_id FROM messages WHERE direction ="
                          " 'inbound' ORDER BY id")
        assert [m for m, _ in rows] == [str(opening["Message-ID"])] + \
            [str(r["Message-ID"]) for _, r in replies]
        assert {t for _, t in rows} == {ticket_id}
        assert query(url, "SELECT count(*) FROM tickets")[0][0] == 1
    finally:
        a.stop()
        b.stop()


def test_400_messages_while_a_node_is_killed_and_restarted(tmp_path: Path,
                                                          pg_server: PgServer) -> None:
    url = pg_server.fresh_database()
    a, b = two_nodes(tmp_path, url)
    start(url, a, b)
    accepted: list[str] = []
    lock = threading.Lock()

    def send_all(first: Installation, second: Installation, tag: str) -> None:
        for i in range(200):
            sender = f"{tag}{i}@example.org"
            msg = mail(sender=sender, subject=f"Case {tag}{i}", body=f"Meter {tag}{i} is off.")
            for node in (first, second, first):  # an MTA tries the next MX, then again
                if deliver(node, sender, bytes(msg)):
                    with lock:
                        accepted.append(str(msg["Message-ID"]))
                    break

    try:
        threads = [threading.Thread(target=send_all, args=(a, b, "x")),
                   threading.Thread(target=send_all, args=(b, a, "y"))]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(accepted) >= 120, 60, "120 messages accepted")
        b.kill()  # SIGKILL to serve and its worker, mid-stream
        time.sleep(1.5)
        b.start()
        for thread in threads:
            thread.join(120)
        assert not any(t.is_alive() for t in threads)
        assert len(accepted) >= 390, f"only {len(accepted)} of 400 accepted"
        settle(url, [a, b], 90)
        assert_once_each(url, accepted)
        assert len(acks_by_ticket(url)) == len(accepted)
        # Each ack reached the customer (a delivery cut by the kill may be repeated, with
        # the same Message-ID: at least once, never a second acknowledgement).
        ack_ids = {r[0] for r in query(url, "SELECT message_id FROM outbox WHERE kind = 'ack'")}
        assert ack_ids <= set(delivered_ids([a, b]))
    finally:
        a.stop()
        b.stop()


TICKETS = 40


def test_a_reminder_due_while_both_nodes_sweep_is_sent_once(tmp_path: Path,
                                                            pg_server: PgServer) -> None:
    """Both daemons sweep every second. The test holds back every event write until both
    sweeps are at the same due ticket (one writing its reminder, the other waiting): then
    the second must find the reminder sent, not send it again."""
    url = pg_server.fresh_database()
    a, b = two_nodes(tmp_path, url, "[lifecycle]\nsweep_seconds = 1\n")
    start(url, a, b)
    try:
        for i in range(TICKETS):
            sender = f"quiet{i}@example.org"
            assert deliver(a if i % 2 else b, sender,
                           bytes(mail(sender=sender, subject=f"Export {i} fails")))
        settle(url, [a, b])
        assert len(acks_by_ticket(url)) == TICKETS
        with psycopg.connect(url) as gate:
            gate.execute("LOCK TABLE events IN SHARE MODE")  # the sweeps' events wait
            # The agent asked a question 3.5 days ago: every reminder is due now, one a
            # second apart (the sweeps take them in the same order).
            since = datetime.now(UTC) - timedelta(days=3.5)
            query(url, "UPDATE tickets SET status = 'waiting', status_since = %s,"
                       " reminded = 0, waiting_on_customer = 0, due_at = to_char("
                       " %s::timestamptz + id * interval '1 second',"
                       " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                  (since.strftime("%Y-%m-%dT%H:%M:%SZ"), since + timedelta(days=3)))
            wait_until(lambda: lock_waiters(url) >= 2, 20, "both sweeps at one ticket")
            gate.commit()
        wait_until(lambda: query(url, "SELECT count(*) FROM tickets WHERE reminded = 1"
                                 )[0][0] == TICKETS, 30, "every ticket reminded")
        time.sleep(2)  # more sweeps of both daemons: none may remind again
        settle(url, [a, b])
        reminders = query(url, "SELECT ticket_id, count(*) FROM outbox WHERE kind = 'reminder'"
                               " GROUP BY ticket_id")
        assert len(reminders) == TICKETS and {n for _, n in reminders} == {1}, reminders
        events = query(url, "SELECT count(*) FROM events WHERE type = 'remind'")[0][0]
        assert events == TICKETS
        sent = [header_of(r, "Message-ID") for n in (a, b) for r in n.outbound()]
        assert len(sent) == 2 * TICKETS == len(set(sent))  # an ack, a reminder: once
    finally:
        a.stop()
        b.stop()


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_postgresql_stopped_for_20_s_under_load_loses_nothing(tmp_path: Path) -> None:
    server = PgServer()  # our own: the session's server is shared by other tests
    server.start()
    try:
        url = server.fresh_database()
        metrics = free_port()
        node = Installation(tmp_path, f'[metrics]\nlisten = "127.0.0.1:{metrics}"\n',
                            database=url)
        start(url, node)
        accepted: list[str] = []
        refused: list[int] = []

        def send_all() -> None:
            for i in range(150):
                sender = f"load{i}@example.org"
                msg = mail(sender=sender, subject=f"Valve {i}", body=f"Valve {i} leaks.")
                if deliver(node, sender, bytes(msg)):
                    accepted.append(str(msg["Message-ID"]))
                else:
                    refused.append(i)
                time.sleep(0.15)

        thread = threading.Thread(target=send_all)
        thread.start()
        try:
            wait_until(lambda: len(accepted) >= 25, 30, "mail before the outage")
            server.stop()
            down = time.monotonic()
            said: list[str] = []
            for _ in range(40):  # /healthz says why while the database is away
                code, text = healthz(metrics)
                if "cannot store mail" in text:
                    said.append(f"{code} {text}")
                    break
                time.sleep(0.5)
            time.sleep(max(0.0, 20 - (time.monotonic() - down)))
            server.resume()
        finally:
            thread.join(120)
        assert not refused, f"refused while the database was away: {refused[:5]}"
        # Healthy (restarting cannot help; mail is accepted), saying what the worker waits for.
        assert said and said[0].startswith("200 ") and "connection" in said[0], said
        settle(url, [node], 90)
        assert_once_each(url, accepted)
        assert len(accepted) == 150 == len(acks_by_ticket(url))
        assert healthz(metrics) == (200, "ok\n")
        log = node.log.read_text()
        assert log.count("worker: temporary failure") == 1, log[-3000:]  # once a minute
        assert "worker: working again after" in log
        assert node.stop() == 0
    finally:
        server.remove()
