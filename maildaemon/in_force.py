"""The copies of the configuration a worker of `serve` reads: what the edge checked.

`serve` writes the configuration file it accepted (`config.in-force.toml`) and the
operator's templates as it rendered them (`templates.in-force`, a symbolic link to one
folder per content) into the data directory, at start and after each accepted reload,
before it signals its worker; the worker is started on that file, with the edge's
restart-only settings and that template folder pinned through its environment
(`PIN_ENV`). So a file edited or broken after the edge's check never reaches a worker,
not even one restarted later, and both processes always agree on where the data is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maildaemon.config import Config
from maildaemon.files import fsync_path
from maildaemon.reload import pin, restart_values
from maildaemon.templates_config import fingerprints

IN_FORCE_NAME = "config.in-force.toml"
TEMPLATES_IN_FORCE = "templates.in-force"  # a symbolic link to the checked generation
PIN_ENV = "MAILDAEMON_PINNED"


def pins_of(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the edge pinned for its worker (none for a worker run by hand)."""
    text = environ.get(PIN_ENV)
    return dict(json.loads(text)) if text else {}


def pins_from_env(config: Config, environ: Mapping[str, str]) -> Config:
    """The worker: its restart-only settings as the edge that started it has them."""
    return pin(config, pins_of(environ))


def pins_for_env(config: Config) -> str:
    """The edge's restart-only settings, and the worker's templates: the copy the edge
    checked (`write_templates_in_force`), never the operator's folder as it is now."""
    pins = restart_values(config)
    pins["templates.directory"] = str(config.data_dir / TEMPLATES_IN_FORCE)
    return json.dumps(pins)


def write_templates_in_force(data_dir: Path, sources: dict[str, tuple[str, str]] | None
                             ) -> Path:
    """The overrides the edge checked, copied where its worker reads them.

    One folder per content (`templates.<digest>`) and a symbolic link swapped atomically to
    the current one, so a worker never reads half of one set and half of another; the
    folders of earlier sets but the one before go (a worker may still be reading that)."""
    prints = fingerprints(sources)
    digest = hashlib.sha256(json.dumps(prints, sort_keys=True).encode()).hexdigest()[:16]
    generation = data_dir / f"templates.{digest}"
    if not generation.is_dir():
        partial = data_dir / f".templates.{digest}.tmp"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(mode=0o700)
        for name, (text, _) in (sources or {}).items():
            (partial / name).write_text(text, encoding="utf-8")
        os.replace(partial, generation)
    link = data_dir / TEMPLATES_IN_FORCE
    previous = os.readlink(link) if link.is_symlink() else ""
    fresh = data_dir / f".{TEMPLATES_IN_FORCE}.tmp"
    with contextlib.suppress(FileNotFoundError):
        fresh.unlink()
    fresh.symlink_to(generation.name)
    os.replace(fresh, link)
    for old in data_dir.glob("templates.*"):
        if old.is_dir() and not old.is_symlink() and old.name not in (generation.name,
                                                                       previous):
            shutil.rmtree(old, ignore_errors=True)
    return link


def write_in_force(data_dir: Path, text: str) -> Path:
    """The configuration the edge accepted, where its worker reads it (owner-only)."""
    path = data_dir / IN_FORCE_NAME
    tmp = data_dir / f".{IN_FORCE_NAME}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_path(data_dir)
    return path
