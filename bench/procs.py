"""Starting and stopping the servers the benchmarks measure, each in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"gave up after {timeout}s waiting for {what}")


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def stop(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class NullServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [PY, str(ROOT / "bench" / "null_server.py"), "--port", str(self.port)],
            stdout=subprocess.PIPE, text=True, start_new_session=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> int:
        """Stops it; returns its peak RSS in bytes."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return int(out.split()[-1])


class Daemon:
    """A real `maildaemon serve` (edge + worker) on a fresh data directory."""

    def __init__(self, workdir: Path, max_message_size: int = 78_643_200,
                 database: str = "") -> None:
        """`database`: a PostgreSQL URL for `[storage] database` (empty: SQLite)."""
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = workdir / "maildaemon.toml"
        self.config.write_text(
            f'[smtp]\nport = {self.port}\nmax_message_size = {max_message_size}\n'
            f'max_connections_per_ip = 1000\n'  # every bench client is 127.0.0.1
            f'[storage]\ndata_dir = "{workdir / "data"}"\ndatabase = "{database}"\n'
            f'[outbound]\nmaildir = "{workdir / "outbound"}"\n'
            f'[autoreply]\nmax_per_hour = 1000000\n'
        )
        self.log = open(workdir / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [PY, "-m", "maildaemon", "--config", str(self.config), "serve"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        wait_until(lambda: listening(self.port), 30, "maildaemon to listen")
        wait_until(lambda: self.worker_pid() is not None, 30, "the worker process")

    def worker_pid(self) -> int | None:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = children.read_text().split() if children.exists() else []
        return int(pids[0]) if pids else None

    def spool_pending(self) -> int:
        path = self.dir / "data" / "spool.sqlite3"
        if not path.exists():
            return 0
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
            return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])

    def delivered(self) -> int:
        new = self.dir / "outbound" / "new"
        return len(os.listdir(new)) if new.exists() else 0

    def tickets(self) -> int:
        with contextlib.closing(sqlite3.connect(self.dir / "data" / "maildaemon.sqlite3",
                                                timeout=30)) as conn:
            return int(conn.execute("SELECT count(*) FROM tickets").fetchone()[0])

    def stop(self) -> None:
        stop(self.proc)
        self.log.close()


def peak_rss(pid: int) -> int:
    """VmHWM: the most resident memory the process has had, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for {pid}")
