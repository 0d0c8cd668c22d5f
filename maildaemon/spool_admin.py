"""The operator's side of the spool (`spool show`, `spool purge`, `stats`): one entry in
full, the backlog in counts, and taking an entry out of the queue without losing its bytes.

Beside spool.py rather than in it: the edge and the worker never need these. The SQL stays
in spool.py (`Spool.detail`, `states`, `remove_unclaimed`): every count is one aggregate
over the `entries_state` index; an entry is read by its unique `spool_id`.

Purging keeps the bytes: a message that got 250 is never lost. They go to
`data_dir/purged/ID.eml` (0600, in a 0700 directory), with the envelope beside them in
`ID.envelope.json` (enough to put the message back with `maildaemon ingest`), both fsynced
before the entry is deleted. Held and pending entries may be purged; a claimed one may not:
the worker is processing it, and its ticket may be half a transaction away. The deletion
re-checks the state in the same transaction, so an entry the worker claims meanwhile is
refused too (its copy under purged/ is removed again).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from maildaemon.files import DIR_MODE, FILE_MODE, fsync_path
from maildaemon.spool import EntryDetail, Spool

PURGED_DIR = "purged"
PURGEABLE = ("held", "pending")
STATES = ("pending", "claimed", "held")


def entry_detail(spool: Spool, spool_id: str) -> EntryDetail | None:
    return spool.detail(spool_id)


def backlog(spool: Spool, now: datetime) -> dict[str, Any]:
    """Entries by state, and the oldest waiting one (pending or claimed) with its age."""
    counts = dict.fromkeys(STATES, 0)
    oldest: str | None = None
    for state, count, first in spool.states():
        counts[state] = count
        if state in ("pending", "claimed") and (oldest is None or first < oldest):
            oldest = first
    age = None
    if oldest is not None:
        received = datetime.fromisoformat(oldest.replace("Z", "+00:00"))
        age = max(0, int((now - received).total_seconds()))
    return {**counts, "oldest_waiting_at": oldest, "oldest_waiting_seconds": age}


class NotPurgeable(Exception):
    """The entry is not there, or is claimed by the worker; the message says which."""


def purge_entry(spool: Spool, data_dir: Path, spool_id: str) -> Path:
    """The entry's bytes and envelope under purged/, then the entry deleted; returns the
    path of the kept bytes. Raises `NotPurgeable` (nothing changed) or OSError."""
    entry = entry_detail(spool, spool_id)
    if entry is None:
        raise NotPurgeable(f"no spool entry {spool_id}")
    if entry.state not in PURGEABLE:
        raise NotPurgeable(f"spool entry {spool_id} is {entry.state}: the worker is "
                           "processing it; wait for it to finish or be held")
    folder = data_dir / PURGED_DIR
    created = not folder.is_dir()
    folder.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(folder, DIR_MODE)
    envelope = {"spool_id": entry.spool_id, "state": entry.state,
                "received_at": entry.received_at, "mail_from": entry.mail_from,
                "rcpt_tos": list(entry.rcpt_tos), "peer": entry.peer, "size": entry.size,
                "sha256": entry.sha256, "attempts": entry.attempts, "error": entry.error}
    kept = folder / f"{spool_id}.eml"
    side = folder / f"{spool_id}.envelope.json"
    written: list[Path] = []
    try:
        _write_new(kept, entry.raw, written)
        _write_new(side, (json.dumps(envelope, indent=2) + "\n").encode(), written)
        fsync_path(folder)
        if created:
            fsync_path(data_dir)
        if not spool.remove_unclaimed(spool_id, PURGEABLE):
            raise NotPurgeable(f"spool entry {spool_id} was claimed by the worker "
                               "meanwhile; nothing purged")
    except BaseException:
        for path in written:  # never a file that was there before
            path.unlink(missing_ok=True)
        raise
    return kept


def _write_new(path: Path, data: bytes, written: list[Path]) -> None:
    """A file that must not exist yet, 0600, fsynced; noted in `written` once created."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    written.append(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
