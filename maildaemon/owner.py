"""Who holds a claim or a lease: `host:pid`, so work of a dead process can be taken back.

Several processes share one data directory (the daemon, `ingest` from an MTA, `flush` by an
operator). Each marks what it is working on; at start-up we take back only what belongs to a
process of this host that no longer exists, never the work of one that is still running.
"""

from __future__ import annotations

import os
import socket


def owner_tag() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_gone(tag: str | None) -> bool:
    if not tag:
        return True
    host, _, pid = tag.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
