"""`serve` on PostgreSQL (issue 15): the real daemon with `[storage] database` on a
throwaway server (tests/pg_server.py). Mail becomes a ticket in the database, the commands
read it there, and a database the node cannot use stops the start with exit 78."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from maildaemon.store.backend import PORTAL_POOL
from tests.conftest import Installation, check_config, mail, wait_until
from tests.pg_server import PgServer
from tests.portal_support import PortalInstallation, log_in

pytestmark = pytest.mark.slow


def serve_exit(inst: Installation) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maildaemon", "--config", str(inst.config),
                           "serve"], capture_output=True, text=True, timeout=60, cwd=inst.tmp)


def test_mail_becomes_a_ticket_in_postgresql(tmp_path: Path, pg_server: PgServer) -> None:
    url = pg_server.fresh_database()
    inst = Installation(tmp_path, database=url)
    inst.start()
    try:
        inst.send(mail(subject="Pump alarm at night", sender="ann@example.org"))
        [ticket] = inst.wait_processed(1)
        assert ticket["subject"] == "Pump alarm at night"
        wait_until(lambda: len(inst.outbound()) == 1, 20, "the acknowledgement")
        assert ticket["number"].encode() in inst.outbound()[0]
    finally:
        assert inst.stop() == 0
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT number, status FROM tickets").fetchone()
        assert row == (ticket["number"], "new")
        raw = conn.execute("SELECT raw FROM raw_messages").fetchone()
        assert raw is not None and b"Pump alarm at night" in bytes(raw[0])
        secret = conn.execute("SELECT value FROM installation WHERE name = 'secret'"
                              ).fetchone()
        assert secret is not None and len(secret[0]) == 64
    # Nothing of the ticket on the node's disk: its data_dir holds the spool and no database.
    assert not (tmp_path / "data" / "maildaemon.sqlite3").exists()
    assert not (tmp_path / "data" / "secret.key").exists()


def test_a_database_it_cannot_use_stops_the_start_with_78(tmp_path: Path,
                                                          pg_server: PgServer) -> None:
    for name in ("refused", "newer"):
        (tmp_path / name).mkdir()
    refused = Installation(tmp_path / "refused",
                           database="postgresql://postgres@127.0.0.1:9/maildaemon")
    result = serve_exit(refused)
    assert result.returncode == 78 and "storage.database: cannot connect" in result.stderr

    url = pg_server.fresh_database()
    newer = Installation(tmp_path / "newer", database=url)
    assert check_config(newer.tmp, newer.config.read_text()).returncode == 0
    newer.cli("tickets")  # creates the schema
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (999)")
    result = serve_exit(newer)
    assert result.returncode == 78 and "schema version 999" in result.stderr
    checked = check_config(newer.tmp, newer.config.read_text())
    assert checked.returncode == 78 and "schema version 999" in checked.stderr


def test_a_password_in_the_url_is_refused(tmp_path: Path) -> None:
    text = (f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
            'database = "postgresql://maildaemon:s3cret@db.example.com/maildaemon"\n')
    result = check_config(tmp_path, text)
    assert result.returncode == 78
    assert "must not hold the password" in result.stderr and "s3cret" not in result.stderr


def test_the_portal_and_the_api_on_postgresql(tmp_path: Path, pg_server: PgServer) -> None:
    """The customer's door reads and writes the same database: an API submission with a
    file, then the customer's pages (the conversation query reads the recipients' JSON)."""
    url = pg_server.fresh_database()
    inst = PortalInstallation(tmp_path, database=url)
    inst.start()
    try:
        with inst.api() as api:
            made = api.post("/api/v1/tickets", data={
                "email": "olga@example.org", "subject": "Scale shows no weight",
                "description": "Since the update the scale shows nothing."},
                files=[("files", ("scale.pdf", PDF, "application/pdf"))])
        assert made.status_code == 201, made.text
        number = made.json()["number"]
        with closing(log_in(inst, "olga@example.org")) as olga:
            page = olga.get(f"/tickets/{number}")
            assert "Since the update the scale shows nothing." in page.text
            assert "scale.pdf" in page.text and "HealthSync support" in page.text
            link = re.search(rf'href="(/tickets/{number}/files/\d+)"', page.text)
            assert link and olga.get(link.group(1)).content == PDF
            # Forty pages at once share the portal's pool, not a connection per thread.
            with ThreadPoolExecutor(40) as pool:
                codes = list(pool.map(lambda _: olga.get(f"/tickets/{number}").status_code,
                                      range(40)))
            assert codes == [200] * 40
        with psycopg.connect(url) as conn:
            [(portal,)] = conn.execute("SELECT count(*) FROM pg_stat_activity"
                                       " WHERE application_name = 'maildaemon-portal'"
                                       ).fetchall()
            assert 1 <= portal <= PORTAL_POOL
    finally:
        inst.stop()


PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
       b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
