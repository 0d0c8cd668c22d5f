"""The commands of INTERFACE.md, run as ops would run them: as processes, on a data dir."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, Installation, header_of


def test_packaged_default_config_is_valid(tmp_path: Path, installation: Installation) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "maildaemon", "check-config"],
                            capture_output=True, text=True, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
    assert '"domain": "healthsync.com"' in result.stdout


def test_unknown_key_is_a_config_error_with_exit_78(installation: Installation) -> None:
    installation.config.write_text('[smtp]\nmax_mesage_size = 5\n')
    result = installation.cli("check-config", check=False)
    assert result.returncode == 78
    assert "unknown key smtp.max_mesage_size" in result.stderr


def test_wrong_type_is_explained(installation: Installation) -> None:
    installation.config.write_text('[smtp]\nport = "twenty-five"\n')
    result = installation.cli("tickets", check=False)
    assert result.returncode == 78
    assert "smtp.port must be a whole number" in result.stderr


def test_config_from_environment_variable(installation: Installation, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "MAILDAEMON_CONFIG": str(installation.config)}
    result = subprocess.run([sys.executable, "-m", "maildaemon", "check-config"],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0
    assert str(installation.config) in result.stdout


def test_usage_error_exits_2(installation: Installation) -> None:
    assert installation.cli("frobnicate", check=False).returncode == 2


def test_ingest_files_make_tickets_and_deliver_acks(installation: Installation) -> None:
    result = installation.cli("ingest", str(FIXTURES / "plain_new.eml"),
                              str(FIXTURES / "html_only.eml"))
    assert "new_ticket HS-" in result.stdout
    tickets = {t["subject"]: t for t in installation.tickets()}
    assert tickets["Sync stops after the update"]["queue"] == "tech"
    assert tickets["Refund request"]["queue"] == "billing"
    acks = installation.outbound()
    assert len(acks) == 2
    assert {header_of(a, "To") for a in acks} == {"carol@example.net", "dana@example.com"}


def test_ingest_of_many_files_runs_as_a_pipeline(installation: Installation,
                                                  tmp_path: Path) -> None:
    # More than a chunk (64): parsed on every core, committed and delivered chunk by chunk.
    files = []
    for i in range(150):
        path = tmp_path / f"m{i:03d}.eml"
        path.write_bytes(
            f"From: c{i}@example.org\r\nTo: support@healthsync.com\r\n"
            f"Subject: pipeline {i}\r\nMessage-ID: <pipe-{i}@example.org>\r\n\r\n"
            f"Problem number {i}.\r\n".encode())
        files.append(str(path))
    files.append(files[0])  # the same file again, in a later chunk: a duplicate
    result = installation.cli("ingest", *files)
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == files  # in the order given
    assert sum("new_ticket HS-" in line for line in lines) == 150
    assert "duplicate" in lines[-1]
    assert "ingested 151 messages (1 duplicate, 150 new_ticket), sent 150 replies" in \
        result.stderr
    assert {t["subject"] for t in installation.tickets()} == {
        f"pipeline {i}" for i in range(150)}
    assert len(installation.outbound()) == 150


def test_ingest_from_stdin_with_envelope_recipient(installation: Installation) -> None:
    raw = (FIXTURES / "plain_new.eml").read_bytes()
    result = installation.cli("ingest", "--rcpt", "bugs@healthsync.com", "-", stdin=raw)
    assert "new_ticket" in result.stdout
    [ticket] = installation.tickets()
    assert ticket["queue"] == "bugs"  # bugs comes before tech in the routing order


def test_raw_gives_back_the_bytes_received(installation: Installation,
                                            tmp_path: Path) -> None:
    # Undeclared 8-bit bytes and bare LFs: decoding must not have touched what is kept.
    raw = (b"From: Dana <dana@example.com>\nTo: support@healthsync.com\n"
           b"Subject: Caf\xe9 m\xfcsli\nMessage-ID: <raw-1@example.com>\n\n"
           b"Stra\xdfe 1\r\n")
    installation.cli("ingest", "-", stdin=raw)
    [ticket] = installation.tickets()
    to_stdout = subprocess.run(
        [sys.executable, "-m", "maildaemon", "--config", str(installation.config), "raw",
         ticket["number"]], capture_output=True, check=True, timeout=60)
    assert to_stdout.stdout == raw
    target = tmp_path / "kept.eml"
    installation.cli("raw", ticket["number"], "1", "--output", str(target))
    assert target.read_bytes() == raw
    missing = installation.cli("raw", ticket["number"], "2", check=False)
    assert missing.returncode == 1 and "has no received message 2" in missing.stderr


def test_ingest_twice_is_a_duplicate(installation: Installation) -> None:
    path = str(FIXTURES / "plain_new.eml")
    installation.cli("ingest", path)
    second = installation.cli("ingest", path)
    assert "duplicate" in second.stdout
    assert len(installation.tickets()) == 1
    assert len(installation.outbound()) == 1


def test_ingest_automatic_mail_is_recorded_not_answered(installation: Installation) -> None:
    for name in ("bounce_dsn.eml", "mailing_list.eml", "out_of_office.eml"):
        assert "automatic" in installation.cli("ingest", str(FIXTURES / name)).stdout
    assert installation.tickets() == []
    assert installation.outbound() == []
    rows = json.loads(installation.cli("automatic", "--json").stdout)
    # The most specific evidence names the reason: the report's own MIME type for the
    # bounce, the List-* headers before Precedence (policy/loops.py).
    assert {r["reason"] for r in rows} == {"delivery_status", "mailing_list",
                                           "auto_submitted"}


@pytest.mark.slow
def test_ingest_with_a_running_daemon_shares_the_data_dir(daemon: Installation) -> None:
    result = daemon.cli("ingest", str(FIXTURES / "eightbit_headers_cp1252.eml"))
    assert "new_ticket HS-" in result.stdout
    [ticket] = daemon.tickets()
    assert ticket["subject"] == "Problème de connexion"


def test_show_json_has_the_documented_shape(installation: Installation) -> None:
    installation.cli("ingest", str(FIXTURES / "plain_new.eml"))
    [listed] = installation.tickets()
    shown = installation.show(listed["number"])
    for key in ("number", "status", "priority", "queue", "requester", "participants",
                "subject", "created_at", "updated_at", "escalated", "waiting_on_customer",
                "related", "messages", "events"):
        assert key in shown, key
    assert shown["created_at"].endswith("Z")
    inbound, outbound = shown["messages"]
    assert inbound["direction"] == "inbound" and outbound["direction"] == "outbound"
    for key in ("message_id", "from", "to", "subject", "date", "text", "attachments",
                "rejected_attachments"):
        assert key in inbound, key
    assert inbound["from"] == "carol@example.net"
    assert inbound["to"] == ["tech@healthsync.com"]
    assert {e["type"] for e in shown["events"]} >= {"created", "reply_queued"}
    text = installation.cli("show", listed["number"]).stdout
    assert listed["number"] in text and "Sync stops" in text


def test_show_unknown_ticket_exits_1(installation: Installation) -> None:
    result = installation.cli("show", "HS-000000", check=False)
    assert result.returncode == 1 and "no ticket" in result.stderr


def test_tickets_filters(installation: Installation) -> None:
    installation.cli("ingest", str(FIXTURES / "plain_new.eml"), str(FIXTURES / "html_only.eml"))
    billing = json.loads(installation.cli("tickets", "--queue", "billing", "--json").stdout)
    assert [t["queue"] for t in billing] == ["billing"]
    assert "messages" not in billing[0]
    assert json.loads(installation.cli("tickets", "--status", "closed", "--json").stdout) == []


def test_flush_delivers_mail_waiting_for_a_retry(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    port = free_port()
    inst = Installation(tmp_path, extra_config=f"""transport = "smtp"
relay_port = {port}
retry_base_seconds = 3600.0
""")
    inst.cli("ingest", str(FIXTURES / "plain_new.eml"))  # the relay is down: deferred
    [row] = json.loads(inst.cli("outbox", "ls", "--json").stdout)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"]

    class Sink:
        received: list[bytes] = []

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.received.append(envelope.original_content)  # type: ignore[attr-defined]
            return "250 OK"

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert "sent 1" in inst.cli("flush").stdout
    finally:
        controller.stop()
    assert len(sink.received) == 1
    assert json.loads(inst.cli("outbox", "ls", "--json").stdout) == []


def test_ingest_of_a_missing_file_is_a_usage_error(installation: Installation) -> None:
    result = installation.cli("ingest", "/nonexistent/mail.eml", check=False)
    assert result.returncode == 2
    assert "not a readable file: /nonexistent/mail.eml" in result.stderr
