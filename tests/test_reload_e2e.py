"""SIGHUP against the real `maildaemon serve`: templates and settings change in both
processes without a restart, a broken file is refused with the old one serving, and no
connection or message is lost on the way.

Each test edits the configuration or a template file, sends SIGHUP to serve, and waits for
the log lines that say both processes took it over (the edge's, then the worker's) before
sending the mail that shows the effect.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any, cast

import pytest

from tests.conftest import (
    DOMAIN,
    Installation,
    free_port,
    mail,
    wait_until,
    worker_pid,
    write_config,
)

pytestmark = pytest.mark.slow  # every test here starts `maildaemon serve`


def templates_section(tmp: Path) -> str:
    return f'[templates]\ndirectory = "{tmp / "templates"}"\n'


@pytest.fixture
def owned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installation]:
    """A daemon whose templates are the operator's (exported), with a notify socket of
    the test's own to read what it tells systemd."""
    inst = Installation(tmp_path, templates_section(tmp_path))
    inst.cli("templates", "export", str(tmp_path / "templates"))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0.2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    inst.notify = notify  # type: ignore[attr-defined]
    inst.start()
    yield inst
    inst.kill()
    notify.close()


def notices(inst: Installation) -> list[str]:
    """What serve told systemd since the last call."""
    got: list[str] = []
    sock = cast(socket.socket, inst.notify)  # type: ignore[attr-defined]
    for _ in range(1000):
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return got


def log_of(inst: Installation) -> str:
    return inst.log.read_text(errors="replace")


def reload(inst: Installation, worker_too: bool = True) -> None:
    """SIGHUP, then wait until the edge (and the worker) said they applied it."""
    log = log_of(inst)
    edge, worker = log.count("reload: applied"), log.count("worker: reload applied")
    assert inst.proc is not None
    inst.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: log_of(inst).count("reload: applied") > edge, 20, "the edge's reload")
    if worker_too:
        wait_until(lambda: log_of(inst).count("worker: reload applied") > worker, 20,
                   "the worker's reload")


def refused(inst: Installation) -> str:
    """SIGHUP with a broken file: wait for the refusal and return its log line."""
    before = log_of(inst).count("reload refused")
    assert inst.proc is not None
    inst.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: log_of(inst).count("reload refused") > before, 20, "the refusal")
    return [line for line in log_of(inst).splitlines() if "reload refused" in line][-1]


def ack_text(inst: Installation, customer: str, count: int = 1) -> str:
    """The plain text of the latest of `count` acknowledgements to `customer`."""
    def acks() -> list[bytes] | None:
        found = [raw for raw in inst.outbound() if f"\nTo: {customer}".encode() in raw]
        return found if len(found) >= count else None

    raw = wait_until(acks, 20, f"{count} acks to {customer}")[-1]
    msg = cast(EmailMessage, message_from_bytes(raw, policy=default))
    body = msg.get_body(("plain",))
    assert body is not None
    return str(cast(Any, body).get_content())


def edit_ack(inst: Installation, first_line: str) -> None:
    path = inst.tmp / "templates" / "ack.txt"
    shipped = path.read_text().split("\n", 1)[1]
    path.write_text(first_line + "\n" + shipped)


def test_a_changed_template_is_used_after_sighup(owned: Installation) -> None:
    owned.send(mail(sender="carol@example.org", subject="Pump alarm"), "carol@example.org")
    assert "Hello" in ack_text(owned, "carol@example.org")
    edit_ack(owned, "Good day from the reloaded template,")
    # Not before the reload: the files are read when a reload has checked them.
    owned.send(mail(sender="carol@example.org", subject="Pump alarm again"),
               "carol@example.org")
    assert "reloaded template" not in ack_text(owned, "carol@example.org", 2)
    reload(owned)
    owned.send(mail(sender="dan@example.org", subject="Strip reader"), "dan@example.org")
    assert ack_text(owned, "dan@example.org").startswith("Good day from the reloaded template")
    assert any("STATUS=reloaded" in n for n in notices(owned))
    assert "reload: applied; changed: templates/ack.txt" in log_of(owned)
    assert "worker: reload applied; changed: templates/ack.txt" in log_of(owned)


def test_a_broken_template_is_refused_and_the_old_one_serves(owned: Installation) -> None:
    edit_ack(owned, "Version one of our greeting,")
    reload(owned)
    edit_ack(owned, "Broken {{ number }")
    line = refused(owned)
    assert "ack.txt" in line and "TemplateSyntaxError" in line
    status = [n for n in notices(owned) if "STATUS=reload refused" in n]
    assert status and "ack.txt" in status[-1], status
    reply = owned.send(mail(sender="erin@example.org", subject="Sensor"), "erin@example.org")
    assert reply == {}  # accepted for every recipient
    assert ack_text(owned, "erin@example.org").startswith("Version one of our greeting")
    assert owned.proc is not None and owned.proc.poll() is None


def test_a_broken_toml_or_value_is_refused(owned: Installation) -> None:
    config = owned.config
    good = config.read_text()
    config.write_text(good + "\n[smtp\n")
    assert "not valid TOML" in refused(owned)
    config.write_text(good.replace("drain_seconds = 10.0", "drain_seconds = 10.0\ntimeout = -1"))
    assert "smtp.timeout" in refused(owned)
    config.write_text(good)
    owned.send(mail(sender="fay@example.org"), "fay@example.org")
    assert "Hello" in ack_text(owned, "fay@example.org")
    # The worker never saw a refused file: it reloaded nothing.
    assert "worker: reload" not in log_of(owned)


def routing_config(inst: Installation, order: str, size: int, port: int | None = None,
                   more: str = "") -> None:
    write_config(inst.tmp, port or inst.port, f"[routing]\norder = {order}\n{more}",
                 max_message_size=size)


def test_routing_order_and_limits_change_in_both_processes(installation: Installation
                                                           ) -> None:
    inst = installation
    routing_config(inst, '["escalation", "bugs", "billing", "tech", "support"]', 200_000)
    inst.start()
    both = [f"billing@{DOMAIN}", f"tech@{DOMAIN}"]
    inst.send(mail(sender="gus@example.org", to=", ".join(both)), "gus@example.org", both)
    assert inst.wait_processed(1)[0]["queue"] == "billing"
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # not one of our addresses yet
        inst.send(mail(sender="gus@example.org"), "gus@example.org", [f"labs@{DOMAIN}"])

    # The worker's routing order, the edge's size limit and its addresses, all at once.
    routing_config(inst, '["escalation", "bugs", "tech", "billing", "support"]', 20_000,
                   more='[queues]\nlabs = "tech"\nbilling = "billing"\ntech = "tech"\n'
                        'support = "support"\nbugs = "bugs"\nescalation = "escalation"\n')
    reload(inst)
    inst.send(mail(sender="hal@example.org", to=", ".join(both)), "hal@example.org", both)
    tickets = inst.wait_processed(2)
    assert {t["queue"] for t in tickets if t["requester"] == "hal@example.org"} == {"tech"}
    assert inst.send(mail(sender="ivy@example.org"), "ivy@example.org",
                     [f"labs@{DOMAIN}"]) == {}
    with pytest.raises(smtplib.SMTPSenderRefused) as big:  # SIZE from MAIL FROM on
        inst.send(mail(sender="ivy@example.org", body="x" * 30_000), "ivy@example.org")
    assert big.value.smtp_code == 552


def test_a_changed_port_is_named_and_not_applied(installation: Installation) -> None:
    inst = installation
    inst.start()
    other = free_port()
    write_config(inst.tmp, other, "[autoreply]\nmax_per_hour = 3\n")
    reload(inst)
    log = log_of(inst)
    assert "need a restart to change: smtp.port" in log
    assert "autoreply.max_per_hour (5 -> 3)" in log
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", other), timeout=1).close()
    assert inst.send(mail(sender="jo@example.org"), "jo@example.org") == {}
    assert inst.wait_processed(1)[0]["requester"] == "jo@example.org"


def test_a_connection_open_across_sighup_completes(owned: Installation) -> None:
    with owned.smtp() as client:
        client.ehlo("client.example.org")
        assert client.mail("kim@example.org")[0] == 250
        assert client.rcpt(f"support@{DOMAIN}")[0] == 250
        edit_ack(owned, "Across the reload,")
        reload(owned)
        code, answer = client.data(mail(sender="kim@example.org", subject="Open across")
                                   .as_bytes())
        assert code == 250, answer
    ticket = owned.wait_processed(1)[0]
    assert ticket["requester"] == "kim@example.org" and ticket["subject"] == "Open across"
    assert ack_text(owned, "kim@example.org").startswith("Across the reload")


def test_sighup_during_a_burst_loses_nothing(owned: Installation) -> None:
    total, workers = 60, 4
    accepted: list[int] = []
    failures: list[str] = []

    def blast(worker: int) -> None:
        for index in range(worker, total, workers):
            try:
                with smtplib.SMTP("127.0.0.1", owned.port, timeout=20) as client:
                    client.sendmail(f"burst{index}@example.org", [f"support@{DOMAIN}"],
                                    mail(sender=f"burst{index}@example.org",
                                         subject=f"burst {index}").as_bytes())
                accepted.append(index)
            except (OSError, smtplib.SMTPException) as exc:
                failures.append(f"{index}: {exc}")

    threads = [threading.Thread(target=blast, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for round_ in range(3):
        wait_until(lambda r=round_: len(accepted) + len(failures) >= 10 * (r + 1), 60,
                   "more of the burst")
        edit_ack(owned, f"Burst greeting {round_},")
        reload(owned, worker_too=False)
    for thread in threads:
        thread.join(120)
    assert failures == [] and sorted(accepted) == list(range(total))
    tickets = owned.wait_processed(total, timeout=90)
    assert sorted(t["subject"] for t in tickets) == sorted(f"burst {i}" for i in range(total))
    assert "Traceback" not in log_of(owned)


def test_a_restarted_worker_keeps_the_checked_templates(owned: Installation) -> None:
    """A template broken in place and never reloaded does not reach a worker that serve
    restarts: it reads the copy the edge checked."""
    edit_ack(owned, "Checked greeting,")
    reload(owned)
    edit_ack(owned, "Broken {{ number }")
    first = worker_pid(owned)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: worker_pid(owned) != first, 20, "a new worker")
    owned.send(mail(sender="lee@example.org", subject="After restart"), "lee@example.org")
    assert ack_text(owned, "lee@example.org").startswith("Checked greeting")
    assert owned.wait_processed(1)[0]["requester"] == "lee@example.org"


def test_serve_refuses_to_start_with_a_template_that_does_not_render(tmp_path: Path) -> None:
    inst = Installation(tmp_path, templates_section(tmp_path))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "closed.txt").write_text("Bye {{ nosuch }}\n")
    result = subprocess.run([sys.executable, "-m", "maildaemon", "--config",
                             str(inst.config), "serve"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 78
    assert "closed.txt" in result.stderr and "nosuch" in result.stderr
