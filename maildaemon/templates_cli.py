"""`maildaemon templates export DIR [--force]`: the shipped templates as a starting point.

Writes every shipped template pair (`NAME.txt` and `NAME.html`) into DIR, creating it if
needed; point `[templates] directory` at it and edit what you want to change (delete the
files you keep as shipped: a missing file falls back to the shipped one, so an upgrade's
fixes reach every mail you did not customise). Nothing is overwritten unless `--force`:
when any file exists the command names them, writes none and exits 2. The files are
written readable by all (0644, the directory 0755): templates hold no customer data, and
the service user must read what an administrator exported as root.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from maildaemon.render import TEMPLATES
from maildaemon.resources import shipped_dir

EX_OK, EX_USAGE = 0, 2


def add_templates_parser(sub: Any) -> None:
    templates = sub.add_parser("templates", help="the customer-visible mail templates")
    actions = templates.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write the shipped templates into DIR")
    export.add_argument("directory", metavar="DIR")
    export.add_argument("--force", action="store_true", help="overwrite existing files")


def shipped_names() -> list[str]:
    return [f"{name}.{ext}" for name in TEMPLATES for ext in ("txt", "html")]


def cmd_templates(args: argparse.Namespace) -> int:
    """Needs no configuration (cli.py runs it before loading one): the directory it fills
    is often the one `[templates] directory` names and that check-config wants to exist."""
    target = Path(args.directory)
    if target.exists() and not target.is_dir():
        print(f"maildaemon: {target} exists and is not a directory", file=sys.stderr)
        return EX_USAGE
    names = shipped_names()
    existing = [name for name in names if (target / name).exists()]
    if existing and not args.force:
        print(f"maildaemon: {len(existing)} files exist in {target} ({', '.join(existing[:5])}"
              f"{' ...' if len(existing) > 5 else ''}); nothing written. --force overwrites",
              file=sys.stderr)
        return EX_USAGE
    if not target.exists():
        target.mkdir(parents=True)
        os.chmod(target, 0o755)
    source = shipped_dir("templates")
    for name in names:
        path = target / name
        path.write_bytes((source / name).read_bytes())
        os.chmod(path, 0o644)
    print(f"{len(names)} templates written to {target}; set [templates] directory ="
          f" \"{target.resolve()}\" and run check-config")
    return EX_OK
