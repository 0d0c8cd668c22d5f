"""`maildaemon migrate --to postgresql://...`: move an SQLite installation onto PostgreSQL
(issue 15, 5; cli.py registers it). The source is the ticket database of the configured
`[storage] data_dir` with its files and `secret.key`; the target must be an empty database
(store/pg/move.py copies, in one transaction, and verifies before it commits). Stop
`serve` first: mail it takes during the copy would not be in PostgreSQL. The spool is not
copied: it stays the node's own, and the node drains it into PostgreSQL once started there.

The password is never in the URL: `--password-file` (its first line), else what libpq reads
itself (`PGPASSWORD`, `~/.pgpass`), as for `[storage] database`.

Exit codes: 0 copied and verified; 1 no SQLite ticket database in data_dir; 2 usage; 65 the
copy did not verify (the table or the bytes are named; nothing is kept) or a file the
database names is missing; 75 the database went away during the copy (nothing is kept; run
it again); 78 the target cannot be used: a bad URL or one holding a password, a refused
connection, a newer schema, or a database that is not empty (the tables are named).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from tqdm import tqdm

from maildaemon.config import Config
from maildaemon.storage_config import check, password
from maildaemon.store import STORE_ERRORS, TEMPORARY_ERRORS
from maildaemon.store.pg.connection import PgConnection
from maildaemon.store.pg.copy import Mismatch, NotEmpty, SchemaDiffers
from maildaemon.store.pg.move import Move
from maildaemon.store.readonly import SchemaTooNew
from maildaemon.store.sqlite_store import DATABASE
from maildaemon.supervisor import heartbeat_path

EX_OK, EX_NOTFOUND, EX_USAGE, EX_DATAERR, EX_TEMPFAIL, EX_CONFIG = 0, 1, 2, 65, 75, 78
RECENT_BEAT = 15.0  # a worker beats at least every 5 s: this fresh, serve may still run


def add_migrate_parser(sub: Any) -> None:
    migrate = sub.add_parser("migrate", help="copy the SQLite data directory into an empty "
                             "PostgreSQL database")
    migrate.add_argument("--to", required=True, metavar="URL",
                         help="postgresql://user@host/dbname (no password in it)")
    migrate.add_argument("--password-file", default="", metavar="FILE",
                         help="the password on its first line (else PGPASSWORD, ~/.pgpass)")


def say(message: str) -> None:
    print(f"maildaemon: migrate: {message}", file=sys.stderr)


def cmd_migrate(config: Config, args: argparse.Namespace) -> int:
    url = args.to.strip()
    try:
        if not url:
            raise ValueError("storage.database is empty")
        check(url, args.password_file)
        secret = password(args.password_file)
    except ValueError as exc:  # storage_config's words, for this command's options
        say(str(exc).replace("storage.database_password_file", "--password-file")
            .replace("storage.database", "--to"))
        return EX_CONFIG
    if not (config.data_dir / DATABASE).is_file():
        say(f"no SQLite ticket database in {config.data_dir} ([storage] data_dir)")
        return EX_NOTFOUND
    beat = heartbeat_path(config.data_dir)
    age = time.time() - beat.stat().st_mtime if beat.exists() else RECENT_BEAT
    if age < RECENT_BEAT:  # also just after a stop: a warning, not a refusal
        say(f"warning: a worker on {config.data_dir} was alive {age:.0f} s ago; if serve"
            " still runs there, mail it takes from now on is not copied (stop it first)")
    try:
        pg = PgConnection.open(url, secret)
    except STORE_ERRORS as exc:
        say(f"--to: cannot connect: {str(exc).strip() or type(exc).__name__}")
        return EX_CONFIG
    try:
        return migrate(config, pg, url)
    finally:
        pg.close()


def migrate(config: Config, pg: PgConnection, url: str) -> int:
    key = config.data_dir / "secret.key"
    secret = key.read_text().strip() if key.is_file() else None
    try:
        bytes.fromhex(secret or "")  # a damaged key is refused, not carried over
    except ValueError as exc:
        say(f"{key} is not a hex key ({exc}); nothing was copied")
        return EX_DATAERR
    started = time.monotonic()
    move: Move | None = None
    try:
        move = Move(pg, config.data_dir)  # migrates the source to this code's version
        on_terminal, expected = sys.stderr.isatty(), move.expected
        with tqdm(total=move.total, unit=" rows", file=sys.stderr,
                  disable=not on_terminal) as bar:
            def table(name: str) -> None:
                bar.set_description(name)
                if not on_terminal and expected[name]:
                    say(f"copying {name} ({expected[name]} rows)")
            copied = move.run(secret, bar.update, table)
    except NotEmpty as exc:
        say(f"the target database is not empty (rows in: {exc}); migrate copies into an"
            " empty database only, and changed nothing")
        return EX_CONFIG
    except SchemaTooNew as exc:
        say(str(exc))
        return EX_CONFIG
    except (Mismatch, SchemaDiffers) as exc:
        say(f"the copy did not verify: {exc}; nothing was kept in PostgreSQL")
        return EX_DATAERR
    except FileNotFoundError as exc:
        say(f"a file the ticket database names is missing: {exc}; nothing was kept")
        return EX_DATAERR
    except TEMPORARY_ERRORS as exc:
        say(f"a database failed during the copy: {exc}; nothing was kept, run it again")
        return EX_TEMPFAIL
    except STORE_ERRORS as exc:  # a row PostgreSQL refuses: its words name it
        say(f"the copy failed: {exc}; nothing was kept in PostgreSQL")
        return EX_DATAERR
    finally:
        if move is not None:
            move.close()
    rows = sum(copied.rows.values())
    print(f"migrated {len(copied.rows)} tables, {rows} rows, {copied.bytes} bytes of messages"
          f" and files in {time.monotonic() - started:.1f} s into {url}; verified: every"
          " table's rows and the bytes match")
    print(f"next: set [storage] database = \"{url}\" and start serve")
    return EX_OK
