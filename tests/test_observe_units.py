"""The pieces of observe that need no daemon: log lines, health verdicts, the watchdog's
environment, the metrics address (the end-to-end tests are test_observe_*_e2e.py)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from maildaemon.health import LOOP_STALL_SECONDS, STARTUP_SECONDS, Health
from maildaemon.logfmt import LogfmtFormatter, about, note, value
from maildaemon.metrics_config import MetricsSection, listen_address
from maildaemon.sdnotify import status_line, watchdog_seconds
from tests.conftest import assert_check_config_refuses, check_config

# -- values -------------------------------------------------------------------------------

VALUES = [
    ("plain", "plain"),
    ("HS-123456", "HS-123456"),
    ("<a1@example.org>", "<a1@example.org>"),
    ("", '""'),
    ("two words", '"two words"'),
    ("a=b", '"a=b"'),
    ('say "hi"', r'"say \"hi\""'),
    ("back\\slash", r'"back\\slash"'),
    ("line\r\nforged=1", r'"line\r\nforged=1"'),
    ("tab\there", r'"tab\there"'),
    ("esc\x1b[2J", r'"esc\x1b[2J"'),
    ("nul\x00", r'"nul\x00"'),
    ("sep\u2028x", r'"sep\u2028x"'),
    ("c1\x85", r'"c1\x85"'),
    ("jörg@exämple.org", "jörg@exämple.org"),
    ("bad\udcffbyte", r"bad\udcffbyte"),
]


@pytest.mark.parametrize(("text", "written"), VALUES)
def test_a_value_is_bare_or_quoted_with_escapes(text: str, written: str) -> None:
    assert value(text) == written


def record(message: str, level: int = logging.INFO, *args: object) -> logging.LogRecord:
    return logging.LogRecord("maildaemon.worker", level, __file__, 1, message, args, None)


def test_a_line_is_key_value_pairs_with_the_message_it_is_about() -> None:
    formatter = LogfmtFormatter()
    with about(spool="S1"):
        note(message_id="<a1@example.org>")
        with about(ticket="HS-123456"):
            line = formatter.format(record("spool %s %s", logging.INFO, "S1", "new_ticket"))
        outside_ticket = formatter.format(record("later"))
    after = formatter.format(record("unrelated"))
    assert line.startswith("ts=") and line.endswith(
        ' level=info logger=maildaemon.worker msg="spool S1 new_ticket" spool=S1'
        " message_id=<a1@example.org> ticket=HS-123456")
    assert outside_ticket.endswith("msg=later spool=S1 message_id=<a1@example.org>")
    assert after.endswith("msg=unrelated")
    assert "\n" not in line


def test_a_traceback_stays_on_its_line() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        import sys

        rec = logging.LogRecord("maildaemon.worker", logging.ERROR, __file__, 1, "failed",
                                (), sys.exc_info())
    line = LogfmtFormatter().format(rec)
    assert "\n" not in line and 'exc="Traceback' in line and r"ValueError: bad\nvalue" in line


@pytest.mark.parametrize(("level", "prefix"), [
    (logging.DEBUG, "<7>"), (logging.INFO, "<6>"), (logging.WARNING, "<4>"),
    (logging.ERROR, "<3>"), (logging.CRITICAL, "<2>"),
])
def test_under_the_journal_a_line_has_its_priority_and_no_time(level: int,
                                                               prefix: str) -> None:
    line = LogfmtFormatter(journal=True).format(record("hello", level))
    assert line == f"{prefix}level={logging.getLevelName(level).lower()} " \
                   "logger=maildaemon.worker msg=hello"


# -- health -------------------------------------------------------------------------------

class Listener:
    def __init__(self) -> None:
        self.serving = True
        self.worker = True


def health(tmp_path: Path, listener: Listener, stall: float = 10.0) -> tuple[Health, Path]:
    beat = tmp_path / "worker.heartbeat"
    beat.write_text("")
    checker = Health(beat, stall, lambda: listener.worker)
    checker.listening = lambda: listener.serving
    return checker, beat


def touch(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


def test_health_follows_the_listener_the_loop_and_the_worker(tmp_path: Path) -> None:
    listener = Listener()
    checker, beat = health(tmp_path, listener)
    start = checker.started
    assert checker.check(start).reason == "ok (worker starting)"
    touch(beat, 1000)
    assert checker.check(start + 9).reason == "ok"  # a beat: progress, or an idle wait
    # no beat for longer than the stall limit: the worker is wedged
    checker.loop_beat = start + 25
    verdict = checker.check(start + 25)
    assert not verdict.healthy
    assert verdict.reason == "the worker has made no progress for 16 s (limit 10 s)"
    touch(beat, 1001)
    assert checker.check(start + 26).healthy  # it beat again (restarted)
    listener.worker = False
    assert checker.check(start + 26).reason == \
        "the worker process is not running (restart pending)"
    listener.worker = True
    listener.serving = False
    assert checker.check(start + 26).reason == \
        "the SMTP listener is not accepting connections"
    listener.serving = True
    verdict = checker.check(start + 26 + LOOP_STALL_SECONDS + 1)
    assert not verdict.healthy and verdict.reason.startswith(
        "the SMTP event loop has not run for")


def test_a_worker_that_never_beat_is_given_time_to_start(tmp_path: Path) -> None:
    listener = Listener()
    checker, _ = health(tmp_path, listener, stall=10)
    start = checker.started
    checker.loop_beat = start + STARTUP_SECONDS
    assert checker.check(start + STARTUP_SECONDS).reason == "ok (worker starting)"
    checker.loop_beat = start + STARTUP_SECONDS + 1
    verdict = checker.check(start + STARTUP_SECONDS + 1)
    assert not verdict.healthy and "has not begun to work" in verdict.reason


# -- systemd's environment ----------------------------------------------------------------

@pytest.mark.parametrize(("env", "seconds"), [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # not ours
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
])
def test_the_watchdog_interval_is_systemds_and_ours(env: dict[str, str],
                                                    seconds: float | None) -> None:
    assert watchdog_seconds(env) == seconds


def test_the_status_line_says_the_backlog_and_why_not_healthy() -> None:
    backlog = "spool 3 pending, 0 held; outbox 1 pending"
    assert status_line(True, "ok", backlog) == f"accepting; {backlog}"
    assert status_line(True, "ok, but the worker cannot store mail since 09:00", backlog) \
        == f"accepting, but the worker cannot store mail since 09:00; {backlog}"
    assert status_line(False, "the worker has made no progress for 12 s", backlog) == \
        f"UNHEALTHY: the worker has made no progress for 12 s; {backlog}"


# -- [metrics] listen ---------------------------------------------------------------------

@pytest.mark.parametrize(("listen", "address"), [
    ("", None),
    ("127.0.0.1:9125", ("127.0.0.1", 9125)),
    ("[::1]:9125", ("::1", 9125)),
    ("localhost:9125", ("localhost", 9125)),
])
def test_the_metrics_address(listen: str, address: tuple[str, int] | None) -> None:
    assert listen_address(MetricsSection(listen)) == address


@pytest.mark.parametrize("listen", ["9125", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000",
                                    "[zz::1]:9125", "http://127.0.0.1:9125/"])
def test_check_config_refuses_a_bad_metrics_address(tmp_path: Path, listen: str) -> None:
    assert_check_config_refuses(tmp_path, f'[metrics]\nlisten = "{listen}"\n',
                                "metrics.listen")


def test_check_config_takes_a_loopback_metrics_address(tmp_path: Path) -> None:
    result = check_config(tmp_path, f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
                          '[metrics]\nlisten = "127.0.0.1:9125"\n')
    assert result.returncode == 0, result.stderr
