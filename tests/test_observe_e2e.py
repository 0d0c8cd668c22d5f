"""Watchdog, STATUS=, /metrics, /healthz and the log, against the real `maildaemon serve`.

systemd is played by a unix datagram socket of the test's own in $NOTIFY_SOCKET (with
$WATCHDOG_USEC, as `WatchdogSec=` sets it); Prometheus by an HTTP client parsing the text
with prometheus_client's own parser. A wedged worker is a SIGSTOPped one.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DOMAIN, Installation, free_port, mail, wait_until, worker_pid

pytestmark = pytest.mark.slow  # every test here starts `maildaemon serve`


class Systemd:
    """The notify socket: every datagram serve sends, in order."""

    def __init__(self) -> None:
        self.name = f"@maildaemon-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(0.2)
        self.received: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.done.is_set():
            try:
                self.received.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def since(self, start: int) -> list[str]:
        return list(self.received[start:])

    def wait_for(self, predicate: str, start: int = 0, timeout: float = 30) -> int:
        """The index of the first datagram from `start` on that starts with `predicate`."""
        def found() -> int | None:
            for index, text in enumerate(self.received[start:], start):
                if text.startswith(predicate):
                    return index + 1  # so that 0 is "not yet"
            return None
        return int(wait_until(found, timeout, f"{predicate!r} from serve")) - 1

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def systemd(monkeypatch: pytest.MonkeyPatch) -> Iterator[Systemd]:
    notify = Systemd()
    monkeypatch.setenv("NOTIFY_SOCKET", notify.name)
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")  # WatchdogSec=2: a ping every second
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield notify
    notify.close()


def get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = get(port, "/metrics")
    assert status == 200, text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric(values: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def observed(tmp_path: Path, stall: float = 120.0) -> Installation:
    inst = Installation(tmp_path, "")
    inst.metrics_port = free_port()  # type: ignore[attr-defined]
    inst.config.write_text(inst.config.read_text() + f"""
[spool]
worker_stall_seconds = {stall}
[metrics]
listen = "127.0.0.1:{inst.metrics_port}"  # type: ignore[attr-defined]
""".replace("  # type: ignore[attr-defined]", ""))
    return inst


PASSWORD = "Tr0ub4dor&3-horse"
CARD = "4111 1111 1111 1111"


def outlook_mail_with_secrets() -> bytes:
    msg = mail(subject="Cannot log in to the portal", sender="kim.lee@example.org",
               body=f"Hello,\n\nmy password is {PASSWORD} and it is refused. My card "
                    f"{CARD} was charged anyway.\n\nKim\n",
               message_id="<DB7PR04MB5001.eurprd04.prod.outlook.com@example.org>",
               X_Mailer="Microsoft Outlook 16.0")
    msg.add_alternative(f"<html><body><p>my password is {PASSWORD}</p>"
                        f"<p>card {CARD}</p></body></html>", subtype="html")
    return msg.as_bytes()


def test_metrics_count_both_processes_and_the_log_names_the_message(
        tmp_path: Path) -> None:
    inst = observed(tmp_path)
    port = inst.metrics_port  # type: ignore[attr-defined]
    inst.start()
    try:
        inst.send(outlook_mail_with_secrets(), "kim.lee@example.org", [f"support@{DOMAIN}"])
        [ticket] = inst.wait_processed(1)

        def delivered() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            values = samples(port)
            sent = metric(values, "maildaemon_outbound_deliveries_total", result="sent")
            return values if sent >= 1 else None

        values = wait_until(delivered, 30, "the acknowledgement delivered")
        # the edge's counters
        assert metric(values, "maildaemon_messages_accepted_total") == 1
        assert metric(values, "maildaemon_smtp_replies_total", code="354") == 1
        assert metric(values, "maildaemon_smtp_replies_total", code="250") >= 4
        assert metric(values, "maildaemon_smtp_replies_total", code="220") >= 1
        # the worker's
        assert metric(values, "maildaemon_tickets_created_total") == 1
        assert metric(values, "maildaemon_messages_processed_total", outcome="new_ticket") == 1
        assert metric(values, "maildaemon_processing_seconds_count") == 1
        assert metric(values, "maildaemon_time_to_ack_seconds_count") == 1
        assert metric(values, "maildaemon_automatic_mail_sent_total", kind="ack") == 1
        assert metric(values, "maildaemon_replies_threaded_total") == 0
        # read at the scrape
        assert metric(values, "maildaemon_spool_backlog") == 0
        assert metric(values, "maildaemon_outbox_backlog") == 0
        assert metric(values, "maildaemon_healthy") == 1

        assert get(port, "/healthz")[0] == 200
        assert get(port, "/")[0] == 404 and get(port, "/metrics/x")[0] == 404
        assert get(port, "/metrics", "POST")[0] == 405

        # The log: key=value lines; the one about the message names it; no secret.
        log = inst.log.read_text()
        line = next(line for line in log.splitlines() if "new_ticket" in line)
        assert line.startswith("ts=") and " level=info logger=maildaemon.worker " in line
        assert f" ticket={ticket['number']}" in line and " spool=" in line
        assert " message_id=<DB7PR04MB5001.eurprd04.prod.outlook.com@example.org>" in line
        for secret in (PASSWORD, CARD, CARD.replace(" ", ""), "4111"):
            assert secret not in log
    finally:
        inst.kill()


def test_watchdog_pings_stop_while_the_worker_is_wedged(tmp_path: Path,
                                                        systemd: Systemd) -> None:
    inst = observed(tmp_path, stall=10.0)
    port = inst.metrics_port  # type: ignore[attr-defined]
    inst.start()
    try:
        ready = systemd.wait_for("READY=1")
        systemd.wait_for("WATCHDOG=1", ready)
        systemd.wait_for("STATUS=accepting; spool 0 pending, 0 held; outbox 0 pending", ready)
        wait_until(lambda: get(port, "/healthz") == (200, "ok\n"), 20, "the worker's beat")

        os.kill(worker_pid(inst), signal.SIGSTOP)
        start = len(systemd.received)
        inst.send(mail(subject="Printer jammed", sender="ana@example.org"))
        systemd.wait_for("STATUS=accepting; spool 1 pending", start)

        # past the stall time: /healthz says why, and the pings stop
        def unhealthy() -> str | None:
            status, text = get(port, "/healthz")
            return text if status == 503 else None

        reason = wait_until(unhealthy, 30, "/healthz 503")
        assert "the worker has made no progress for" in reason or \
            "the worker process is not running" in reason
        bad = systemd.wait_for("STATUS=UNHEALTHY: ", start)
        assert "spool 1 pending" in systemd.received[bad]
        # serve's supervisor kills the wedged worker and starts another: healthy again
        good = systemd.wait_for("STATUS=accepting", bad)
        # each round pings (when healthy) and then says where it is: none while unhealthy
        assert "WATCHDOG=1" not in systemd.received[bad:good - 1]
        assert systemd.received[good - 1] == "WATCHDOG=1"
        inst.wait_processed(1, 30)
        systemd.wait_for("STATUS=accepting; spool 0 pending", good)

        stop = len(systemd.received)
        assert inst.stop() == 0
        systemd.wait_for("STOPPING=1", stop, 5)
    finally:
        inst.kill()


def test_a_taken_metrics_port_stops_the_start_with_exit_78(tmp_path: Path) -> None:
    inst = observed(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", inst.metrics_port))  # type: ignore[attr-defined]
        taken.listen()
        result = subprocess.run([sys.executable, "-m", "maildaemon", "--config",
                                 str(inst.config), "serve"], capture_output=True, text=True,
                                cwd=tmp_path, timeout=60)
    assert result.returncode == 78, result.stderr
    assert "metrics.listen: cannot listen on 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
