"""`maildaemon backup DEST`: a consistent copy of a data directory, taken while the daemon
runs; restoring it is stopping the daemon, putting the copy in place of the data directory
and starting it again (README, "Backup and restore").

What is copied, and in which order, so that the copy is one the daemon can start on:
1. every SQLite database of the data directory (`spool.sqlite3`, `maildaemon.sqlite3`, and
   any other file that starts with SQLite's header), through SQLite's online backup API
   (`Connection.backup`): a snapshot of each as of one read transaction, whatever is
   being written meanwhile. The spool comes FIRST: a message the worker turns into a
   ticket between the two snapshots is then in both, and the restored worker's replay is
   a no-op (its spool id is recorded as processed); the other order would lose it;
2. the HMAC key (`secret.key`), without which our reply addresses and Message-IDs stop
   verifying;
3. every other regular file (attachments and messages of 1 MiB and more under
   `attachments/` and `raw/`, kept bytes under `purged/`), AFTER the ticket database: a
   file is durable before the row that names it commits, so every file the snapshot
   names is there already. Files written later are extra and harmless.
Left out: the databases' `-wal`/`-shm` side files (the snapshot already holds their
pages), temporaries of a batch in progress (`.*.tmp`), the worker's heartbeat, anything
that is not a regular file (a unix socket), and the outbound maildir when it lies inside
the data directory (mail already handed over, not state).

Each copied database passes `PRAGMA quick_check` before the command says OK. DEST must not
exist or be an empty directory, and must not lie inside the data directory; it is made
0700 and every file in it 0600 (tickets hold health data). A progress bar shows the file
copy on a terminal. Exit 0; 1 without a ticket database; 2 for a bad DEST; 75 when a
copy fails its check or I/O fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from maildaemon.config import Config
from maildaemon.files import DIR_MODE, FILE_MODE, fsync_path
from maildaemon.spool import unclaim_copy
from maildaemon.sqlite import snapshot
from maildaemon.supervisor import HEARTBEAT_NAME

EX_OK, EX_NOTFOUND, EX_USAGE, EX_TEMPFAIL = 0, 1, 2, 75
SQLITE_MAGIC = b"SQLite format 3\x00"
FIRST = ("spool.sqlite3", "maildaemon.sqlite3")  # this order: see the docstring
SIDE_FILES = ("-wal", "-shm", "-journal")
CHUNK = 1 << 20


class CheckFailed(Exception):
    """A copied database did not pass its check."""


def add_backup_parser(sub: Any) -> None:
    backup = sub.add_parser("backup", help="a consistent copy of the data directory, "
                            "taken while the daemon runs")
    backup.add_argument("dest", metavar="DEST",
                        help="a directory that does not exist yet (or is empty)")


def cmd_backup(config: Config, args: argparse.Namespace) -> int:
    source, dest = config.data_dir.resolve(), Path(args.dest).resolve()
    if not (source / "maildaemon.sqlite3").is_file():
        print(f"maildaemon: backup: no ticket database in {source}: nothing to back up",
              file=sys.stderr)
        return EX_NOTFOUND
    problem = _dest_problem(source, dest)
    if problem:
        print(f"maildaemon: backup: {problem}", file=sys.stderr)
        return EX_USAGE
    dest.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(dest, DIR_MODE)
    skip = _skipped_dirs(config, source)
    databases, files = _inventory(source, skip)
    try:
        for path in databases:
            size = copy_database(path, dest / path.relative_to(source))
            print(f"{path.name}: {size} bytes, checked", file=sys.stderr)
        copied = copy_files(source, dest, files)
    except CheckFailed as exc:
        print(f"maildaemon: backup: {exc}; the copy in {dest} is not usable",
              file=sys.stderr)
        return EX_TEMPFAIL
    for root, _, _ in os.walk(dest, topdown=False):  # every name in the copy durable
        fsync_path(Path(root))
    for folder in skip:
        print(f"not copied: {folder} (the outbound maildir: mail already handed over)",
              file=sys.stderr)
    print(f"backup of {source} in {dest}: {len(databases)} databases, {copied} files")
    return EX_OK


def _dest_problem(source: Path, dest: Path) -> str:
    if dest == source or dest.is_relative_to(source):
        return f"{dest} is inside the data directory {source}"
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        return f"{dest} exists and is not an empty directory"
    return ""


def _skipped_dirs(config: Config, source: Path) -> list[Path]:
    maildir = config.maildir
    return [maildir] if maildir.is_relative_to(source) and maildir != source else []


def _inventory(source: Path, skip: list[Path]) -> tuple[list[Path], list[Path]]:
    """(databases in copy order, other files): what the command copies, found by walking."""
    databases: list[Path] = []
    files: list[Path] = []
    for root, dirs, names in os.walk(source):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if here / d not in skip)
        for name in sorted(names):
            path = here / name
            if name.endswith(SIDE_FILES) or name == HEARTBEAT_NAME or \
                    (name.startswith(".") and name.endswith(".tmp")) or not path.is_file():
                continue
            (databases if _is_database(path) else files).append(path)
    rank = {name: i for i, name in enumerate(FIRST)}
    databases.sort(key=lambda p: (rank.get(p.name, len(rank)), str(p)))
    files.sort(key=lambda p: (p.name != "secret.key", str(p)))
    return databases, files


def _is_database(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def copy_database(path: Path, target: Path) -> int:
    """A checked snapshot of the database at `path` in `target` (sqlite.snapshot: SQLite's
    backup API in one step); returns the copy's size."""
    target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    verdict = snapshot(path, target)
    if path.name == "spool.sqlite3":
        unclaim_copy(target)
    os.chmod(target, FILE_MODE)
    if verdict != "ok":
        raise CheckFailed(f"the copy of {path.name} failed its check: {verdict}")
    fsync_path(target)
    return target.stat().st_size


def copy_files(source: Path, dest: Path, files: list[Path]) -> int:
    """Each file copied 0600 and fsynced; a file gone meanwhile (retention purged it) is
    left out. A byte-counting progress bar on a terminal."""
    total = sum(_size(path) for path in files)
    copied = 0
    with tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr,
              disable=not sys.stderr.isatty(), desc="files") as bar:
        for path in files:
            target = dest / path.relative_to(source)
            target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            try:
                reader = path.open("rb")
            except FileNotFoundError:
                continue
            with reader, open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                      FILE_MODE), "wb") as writer:
                for _ in range(_size(path) // CHUNK + 2):  # bounded; a growing file is cut
                    chunk = reader.read(CHUNK)
                    if not chunk:
                        break
                    writer.write(chunk)
                    bar.update(len(chunk))
                writer.flush()
                os.fsync(writer.fileno())
            copied += 1
    return copied


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
