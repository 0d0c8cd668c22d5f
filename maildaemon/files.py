"""Content-addressed files that are on disk before anything refers to them.

A file's name is its content's hash, so a file that exists already holds these bytes: a
name must therefore never exist with anything less than the whole content, even after a
power cut. Every file is written under a temporary name, fsynced, and only then renamed,
and the directory is fsynced so that the rename itself survives (and its parent, when the
directory was new).

`DurableFiles` does that for a whole batch at once (the worker commits many messages in
one transaction): the files are written as they come, then fsynced together from a few
threads just before the commit (the filesystem joins concurrent fsyncs into one journal
commit; one after another cost a millisecond each), renamed, and their directories
fsynced once each.

Tickets hold health data, so everything here is the service user's alone: files 0600 and
directories 0700 whatever the umask (the CLI also sets umask 077, which covers what SQLite
and the maildir create), and `make_private` tightens a data directory an older version or
a loose umask left readable.
"""

from __future__ import annotations

import os
import secrets
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SYNC_THREADS = 8
FILE_MODE, DIR_MODE = 0o600, 0o700
_pool: ThreadPoolExecutor | None = None  # shared by every caller of fsync_all
_pool_lock = threading.Lock()


class DurableFiles:
    def __init__(self) -> None:
        self._staged: dict[Path, Path] = {}  # final name -> temporary name
        self._new_dirs: set[Path] = set()  # whose own names must be made durable too

    def stage(self, path: Path, data: bytes) -> None:
        """Written now under a temporary name; durable under `path` after `sync()`."""
        if path in self._staged or path.exists():
            return
        missing, directory = [], path.parent
        while not directory.is_dir() and directory != directory.parent:
            missing.append(directory)
            directory = directory.parent
        if missing:
            path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            self._new_dirs.update(missing)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        self._staged[path] = tmp

    def sync(self) -> None:
        """Every staged file durable under its own name; raises (OSError) if any is not,
        and the caller must then not commit anything that refers to them."""
        staged, self._staged = self._staged, {}
        new_dirs, self._new_dirs = self._new_dirs, set()
        if not staged:
            return
        try:
            self._fsync_all(list(staged.values()))
            for path, tmp in staged.items():
                os.replace(tmp, path)
            # The renames, and the entries of directories made for them in their parents.
            self._fsync_all(sorted({path.parent for path in staged} |
                                   {d.parent for d in new_dirs}))
        except BaseException:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)
            raise

    def discard(self) -> None:
        """The batch is abandoned: its temporary files go."""
        staged, self._staged = self._staged, {}
        self._new_dirs = set()
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _fsync_all(paths: list[Path]) -> None:
        for error in fsync_all(paths):
            if error is not None:
                raise error


def remove_stale_temporaries(roots: list[Path], older_than: float = 3600.0) -> int:
    """Temporary files a killed process left behind (never under a final name, so nothing
    refers to them); only old ones, since a running `ingest` may be writing new ones."""
    cutoff = time.time() - older_than
    removed = 0
    for root in roots:
        if not root.is_dir():
            continue
        for tmp in root.glob("*/.*.tmp"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return removed


def fsync_all(paths: list[Path]) -> list[OSError | None]:
    """Each path fsynced, from a few threads at once; the error of each that failed."""
    if len(paths) <= 1:
        return [_fsync_or_error(path) for path in paths]
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="fsync")
    return list(_pool.map(_fsync_or_error, paths))


def _fsync_or_error(path: Path) -> OSError | None:
    try:
        fsync_path(path)
    except OSError as exc:
        return exc
    return None


def fsync_path(path: Path) -> None:
    """A file or a directory (for the names in it) made durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private(directory: Path) -> None:
    """`directory` exists, 0700, and none of its direct entries is open to group or others.

    Only the top level is tightened (a stat each, at every start): a 0700 directory already
    keeps everyone else out of whatever lies below it, and walking a million attachment
    files at each command would cost more than it protects. Entries of other owners and
    symbolic links are left alone (chmod would follow the link, or fail).
    """
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(directory)
    with os.scandir(directory) as entries:
        for entry in entries:
            _tighten(Path(entry.path))


def _tighten(path: Path) -> None:
    """Group and other bits off (owner bits untouched: never adds a permission)."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
            return
        if info.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)
    except FileNotFoundError:  # a -wal or temporary file another process just removed
        return


def loose_modes(directory: Path, limit: int = 10) -> tuple[int, list[str]]:
    """Everything under `directory` (itself included) that group or others may use, as
    `check-config` warns of it: how many, and the first `limit` as "path mode". Walks the
    whole tree (unlike `make_private`): it runs when ops ask, not at every start, and a
    file left 0644 below is still a file that ought to be 0600. Links are not followed."""
    first: list[str] = []
    count, first = _note(directory, 0, first, limit)
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            count, first = _note(Path(root) / name, count, first, limit)
    return count, first


def _note(path: Path, count: int, first: list[str], limit: int) -> tuple[int, list[str]]:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return count, first
    if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
        return count, first
    if len(first) < limit:
        first.append(f"{path} {stat.S_IMODE(info.st_mode):04o}")
    return count + 1, first
