"""Shared test harness: a real `maildaemon serve` process on 127.0.0.1 and real SQLite files.

Nothing here fakes what we own. The daemon runs as a subprocess with its own data directory
under pytest's tmp_path; the CLI is run as a subprocess too, exactly as ops would run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import config_from_dict
from maildaemon.store import TicketReads, TicketStore, open_reads, open_store
from tests.browser_support import chrome  # noqa: F401  (the fixture, for test_portal_browser.py)
from tests.pg_server import MISSING, PgServer, binaries
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "emails"
CORPUS = ROOT.parent / "shared" / "corpus"
DOMAIN = "healthsync.com"



class SettableClock:
    """The worker's clock in tests that move time by hand (`clock.now += ...`)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


# Hostile-input tests assert that bad input ends, not how fast: catastrophic backtracking
# or a quadratic loop takes minutes on their inputs, and speed belongs in bench/.
HANG_GUARD_SECONDS = 30.0


def check_config(tmp: Path, text: str) -> subprocess.CompletedProcess[str]:
    """`maildaemon check-config` on a configuration file holding `text`, as an operator
    runs it (a real process): the tests of each section's checks read its exit code and
    what it wrote."""
    config = tmp / "maildaemon.toml"
    config.write_text(text)
    return subprocess.run([sys.executable, "-m", "maildaemon", "--config", str(config),
                           "check-config"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def assert_check_config_refuses(tmp: Path, section: str, key: str) -> None:
    """check-config on a data directory in `tmp` plus `section` (TOML) exits 78 and names
    `key`, without a traceback: how every section's bad values are refused."""
    result = check_config(tmp, f"[storage]\ndata_dir = \"{tmp / 'data'}\"\n{section}")
    assert result.returncode == 78, result.stdout + result.stderr
    assert key in result.stderr and "Traceback" not in result.stderr


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def write_config(tmp: Path, port: int, extra: str = "",
                 max_message_size: int = 200_000, database: str = "") -> Path:
    path = tmp / "maildaemon.toml"
    path.write_text(
        f"""
[mail]
domain = "{DOMAIN}"
[smtp]
host = "127.0.0.1"
port = {port}
max_message_size = {max_message_size}
drain_seconds = 10.0
[storage]
data_dir = "{tmp / 'data'}"
database = "{database}"
[outbound]
maildir = "{tmp / 'outbound'}"
{extra}
"""
    )
    return path


UNMARKED = "MAILDAEMON_TEST_UNMARKED"  # names a running test that is not marked slow


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Note, before its fixtures start anything, whether the test may start a daemon.

    In the environment, because the tests import this module a second time as
    `tests.conftest`, and that copy's Installation has to see it too.
    """
    os.environ[UNMARKED] = "" if item.get_closest_marker("slow") else item.nodeid


class Installation:
    """One data directory with its config, and the ways ops touch it."""

    def __init__(self, tmp: Path, extra_config: str = "",
                 max_message_size: int = 200_000, database: str = "") -> None:
        """`database`: a PostgreSQL URL for `[storage] database` (empty: SQLite)."""
        self.tmp = tmp
        self.port = free_port()
        self.config = write_config(tmp, self.port, extra_config, max_message_size, database)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "serve.log"
        self.unix_socket: Path | None = None  # with `smtp.socket`: where serve listens

    # -- the daemon ----------------------------------------------------------------------
    def start(self) -> None:
        if os.environ.get(UNMARKED):
            raise AssertionError(f"{os.environ[UNMARKED]} starts `maildaemon serve`: mark "
                                 "it slow, so that `make quick` leaves it out")
        handle = open(self.log, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maildaemon", "--config", str(self.config), "serve"],
            stdout=handle, stderr=subprocess.STDOUT, cwd=self.tmp, start_new_session=True,
        )
        handle.close()

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited: {self.log.read_text()}")
            try:
                if self.unix_socket is not None:
                    with socket.socket(socket.AF_UNIX) as client:
                        client.settimeout(0.2)
                        client.connect(str(self.unix_socket))
                    return True
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False

        wait_until(listening, 20, "the daemon to listen")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL to the daemon and its worker at once, as a power cut or the OOM killer."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    # -- talking to it -------------------------------------------------------------------
    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=10)

    def send(self, msg: EmailMessage | bytes, sender: str | None = None,
             rcpts: list[str] | None = None) -> Any:
        with self.smtp() as client:
            if isinstance(msg, bytes):
                return client.sendmail(sender or "alice@example.org",
                                       rcpts or [f"support@{DOMAIN}"], msg)
            return client.send_message(msg, from_addr=sender, to_addrs=rcpts)

    def cli(self, *args: str, check: bool = True, stdin: bytes | None = None
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "maildaemon", "--config", str(self.config), *args],
            capture_output=True, text=stdin is None, input=stdin, cwd=self.tmp, timeout=120,
        )
        if isinstance(result.stdout, bytes):
            result = subprocess.CompletedProcess(
                result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
            )
        if check and result.returncode != 0:
            raise AssertionError(f"maildaemon {args} exited {result.returncode}: "
                                 f"{result.stdout}{result.stderr}")
        return result

    def tickets(self) -> list[dict[str, Any]]:
        return list(json.loads(self.cli("tickets", "--json").stdout))

    def show(self, number: str) -> dict[str, Any]:
        return dict(json.loads(self.cli("show", number, "--json").stdout))

    def outbound(self) -> list[bytes]:
        new = self.tmp / "outbound" / "new"
        return [p.read_bytes() for p in sorted(new.iterdir())] if new.exists() else []

    def wait_processed(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        """Wait until `count` tickets exist and the spool is empty."""
        def done() -> list[dict[str, Any]] | None:
            tickets = self.tickets()
            spool = self.cli("spool", "ls", "--json").stdout
            if len(tickets) >= count and json.loads(spool) == []:
                return tickets
            return None
        return list(wait_until(done, timeout, f"{count} tickets"))

    def wait_spool_empty(self, timeout: float = 15) -> None:
        left: list[Any] = []

        def empty() -> bool:
            left[:] = json.loads(self.cli("spool", "ls", "--json").stdout)
            return not left

        try:
            wait_until(empty, timeout, "an empty spool")
        except AssertionError as exc:  # say what stayed, and why
            raise AssertionError(f"{exc}; left: {left[:5]}") from None


def worker_pid(inst: Installation) -> int:
    """The pid of serve's `maildaemon worker` child, once it has one."""
    assert inst.proc is not None
    pid = inst.proc.pid

    def child() -> int | None:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(children[0]) if children else None

    return int(wait_until(child, 20, "the worker process"))


def mail(
    subject: str = "Printer on fire",
    sender: str = "alice@example.org",
    to: str = f"support@{DOMAIN}",
    body: str = "Hello, the printer is on fire.",
    message_id: str | None = None,
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{time.monotonic_ns()}.{os.getpid()}@example.org>"
    msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


class ServerThread:
    """A protocol served on 127.0.0.1 by an event loop on a thread of its own."""

    def __init__(self, factory: Callable[[asyncio.AbstractEventLoop], Any]) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(
            self.loop.create_server(lambda: factory(self.loop), "127.0.0.1", self.port))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.run_until_complete(self.server.wait_closed())
        self.loop.close()


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Installation]:
    inst = Installation(tmp_path)
    yield inst
    inst.kill()


@pytest.fixture
def daemon(installation: Installation) -> Iterator[Installation]:
    installation.start()
    yield installation
    installation.kill()


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """One daemon for a whole module of tests that each use their own senders."""
    inst = Installation(tmp_path_factory.mktemp("shared"))
    inst.start()
    yield inst
    inst.kill()


def acks_to(inst: Installation, address: str) -> list[bytes]:
    return [raw for raw in inst.outbound() if f"\nTo: {address}".encode() in raw]


def header_of(raw: bytes, name: str) -> str:
    from email import message_from_bytes
    from email.policy import default

    value = message_from_bytes(raw, policy=default)[name]
    return "" if value is None else str(value)


# -- The storage backends ------------------------------------------------------------------

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL server per test process (tests/pg_server.py), started the
    first time a test asks; skipped, saying why, on a machine without its binaries."""
    if binaries() is None:
        pytest.skip(MISSING)
    server = PgServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The `[storage]` settings of each backend the storage behaviour tests run on: SQLite
    in a data directory, and PostgreSQL (a database of its own on the throwaway server).

    Tests written against the interfaces (`TicketStore`, `TicketReads`) take this, or
    `ticket_store`/`ticket_reads`, and run on both backends unchanged: test_store_interface,
    test_store_reads, and the behaviour tests of test_store_upkeep and test_dedup. What is
    about SQLite itself stays on SQLite by nature, not by omission: migrations and the old
    on-disk formats (test_migrations), the schema dump (test_schema_dump), WAL growth and
    checkpoints (test_wal_bounded, test_store_upkeep's checkpoint test), temp files
    (test_sqlite_temp), file modes (test_file_modes), blobs staged beside the database and
    their layout (test_files), query plans and where the dedup hash is kept (test_dedup),
    faults injected on SQLite's locks (test_fault_injection, test_worker_faults), the spool.
    """
    settings = {"data_dir": str(tmp_path / "data")}
    if request.param == "postgresql":
        server: PgServer = request.getfixturevalue("pg_server")
        settings["database"] = server.fresh_database()
    return settings


@pytest.fixture
def ticket_store(storage: dict[str, Any]) -> Iterator[TicketStore]:
    """The write side of the backend, as the worker, the sweep and the sender see it."""
    store = open_store(config_from_dict({"storage": storage}))
    yield store
    store.close()


@pytest.fixture
def ticket_reads(storage: dict[str, Any], ticket_store: TicketStore) -> Iterator[TicketReads]:
    """The read side of the same backend, from the factory the commands use: it sees what
    `ticket_store` committed."""
    reads = open_reads(config_from_dict({"storage": storage}))
    yield reads
    reads.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The portal's browser test leaves a screenshot of each page it saw: name them."""
    folder = Path(os.environ.get("MAILDAEMON_SCREENSHOTS") or ROOT / "test-output" / "screenshots")
    shots = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if shots:
        terminalreporter.write_sep("-", "portal screenshots (tests/test_portal_browser.py)")
        for shot in shots:
            terminalreporter.write_line(str(shot))
