"""Who holds a claim or a lease: `host:pid`, so work of a dead process can be taken back.

Several processes share one data directory (the daemon, `ingest` from an MTA, `flush` by an
operator). Each marks what it is working on; at start-up we take back only what belongs to a
process of this host that no longer exists, never the work of one that is still running.

With several nodes on one PostgreSQL (issue 15), the outbox's leases are shared by all of
them, and a pid says nothing about another node's processes (another machine, another
container on this one, even a node on this host with its own data directory). There the
"host" part names the node, `host/<node>` (`node_of`: this host and data directory), and
only leases of this node are judged; another node's lease is left to run out
(`lease_until`), after which any node may take the row.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path


def node_of(data_dir: Path) -> str:
    """A short name of the node a data directory is: the same for every process on it."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]


def _place(node: str) -> str:
    host = socket.gethostname()
    return f"{host}/{node}" if node else host


def owner_tag(node: str = "") -> str:
    return f"{_place(node)}:{os.getpid()}"


def owner_is_gone(tag: str | None, node: str = "") -> bool:
    """True only for a tag of this host (and `node`) whose process no longer exists."""
    if not tag:
        return True
    host, _, pid = tag.rpartition(":")
    if host != _place(node) or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
