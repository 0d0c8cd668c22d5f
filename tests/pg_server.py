"""A throwaway PostgreSQL server for the tests, from the system's binaries (issue 15, 6).

`PgServer` runs initdb and pg_ctl in a temporary directory: a server of its own on a free
port of 127.0.0.1 and a socket in that directory, never the machine's own cluster, with
fsync off (a test server's durability is not under test; the daemon's commits are). As
root (CI), the server runs as the `postgres` user the package creates, since PostgreSQL
refuses to run as root. Each test gets a database of its own (`fresh_database`), dropped
with the server at the end of the session. Without the binaries the tests that need one
are skipped, saying why; `.ci/run` installs the `postgresql` package, so CI runs them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.ports import free_port

SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/pgsql-*/bin")


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, the newest version first; None without."""
    for pattern in SEARCH:
        for folder in sorted(glob.glob(pattern), reverse=True):
            if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
                return Path(folder)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


MISSING = ("no PostgreSQL server binaries (initdb, pg_ctl) on this machine; .ci/run installs"
           " them: apt-get install postgresql")


class PgServer:
    def __init__(self) -> None:
        folder = binaries()
        assert folder is not None, MISSING
        self.bin = folder
        self.root = Path(tempfile.mkdtemp(prefix="maildaemon-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120,
                              cwd=self.root, check=True)

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                 "--no-sync", "-E", "UTF8", "--locale=C")
        self.resume()

    def resume(self) -> None:
        """Start the server again after `stop()`, on the same port, with its databases."""
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                   " -c max_connections=200")
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                 str(self.root / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """The URL of a new, empty database on this server."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
