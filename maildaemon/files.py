"""Content-addressed files that are on disk before anything refers to them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def keep_once(path: Path, data: bytes) -> None:
    """Write `data` to `path` unless it is there: through a temporary name, fsynced, then
    renamed, so a crash leaves either the whole file or none. The name is the content's
    hash, so an existing file already holds these bytes."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
