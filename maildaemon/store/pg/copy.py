"""Copying an SQLite ticket database into an empty PostgreSQL one (`maildaemon migrate`,
issue 15, 5); migrate_cli.py is the command around it.

Why it is done this way:
- every table, found from both schemas rather than listed here, so a table a later
  migration adds is copied too; the two sides must hold the same tables (the source is
  migrated to this code's version first), else nothing is copied (`SchemaDiffers`). Left
  out: SQLite's migration log (PostgreSQL's `schema_version` is migrations.py's);
- in one PostgreSQL transaction, read from one SQLite read transaction: a failure leaves
  the target's tables empty, and what is copied is one moment of the source;
- by COPY (`cursor.copy()`), parents before children (by the foreign keys), ids as they
  are; then each identity sequence is set past its table's largest id. participants' and
  related's `rowid` (PostgreSQL's stand-in for SQLite's implicit one: the order rows were
  added) is generated, so their rows are sent in SQLite's rowid order;
- the timeline is what triggers write as messages and events arrive: what they wrote while
  copying is replaced by the source's rows, so it is the source's exactly;
- bytes SQLite keeps as files under data_dir (store/blobs.py: a `path`, an empty blob) go
  into the row, path NULL: on PostgreSQL everything is in the database. An attachment kept
  as a file before `attachment_data` existed gets its row (`legacy`);
- verified before the commit: every table's row count, and the bytes of messages and
  files, as counted on the source (SQLite's own sums, the files' sizes) against what
  PostgreSQL holds; a difference raises `Mismatch` and rolls everything back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from maildaemon.store.blobs import Blobs
from maildaemon.store.pg.connection import PgConnection
from maildaemon.store.pg.store import FOREIGN_KEYS

SQLITE_ONLY = frozenset({"_sqlite_migrations"})
PG_ONLY = frozenset({"installation", "schema_version"})
FILES = {"raw_messages": "raw", "attachment_data": "data"}  # (blob, path) tables
BYTES = {**FILES, "outbox_raw": "raw"}  # every table of message and file bytes
FED_BY_TRIGGERS = ("timeline",)
COLUMNS = ("SELECT table_name, column_name, identity_generation FROM information_schema.columns"
           " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position")


class NotEmpty(Exception):
    """The target already holds rows (named): migrate copies into an empty database only."""


class SchemaDiffers(Exception):
    """The two databases do not hold the same tables and columns."""


class Mismatch(Exception):
    """What PostgreSQL holds after the copy differs from the source (a table, or bytes)."""


@dataclass
class Table:
    name: str
    columns: list[str]  # PostgreSQL's, less the generated ones
    order: str  # the source's order: ids, or the rowid that participants' order is


@dataclass
class Copied:
    rows: dict[str, int] = field(default_factory=dict)  # by table, as verified
    bytes: int = 0  # of messages and files, as verified


def tables(pg: PgConnection, src: sqlite3.Connection) -> list[Table]:
    """What to copy, parents first; raises SchemaDiffers."""
    columns: dict[str, list[str]] = {}
    generated: dict[str, set[str]] = {}
    for name, column, identity in pg.conn.execute(COLUMNS):
        columns.setdefault(name, []).append(column)
        if identity == "ALWAYS":
            generated.setdefault(name, set()).add(column)
    names = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                       " AND name NOT LIKE 'sqlite_%'")} - SQLITE_ONLY
    if names != set(columns) - PG_ONLY:
        raise SchemaDiffers(f"the tables differ: only in SQLite {sorted(names - set(columns))},"
                            f" only in PostgreSQL {sorted(set(columns) - PG_ONLY - names)}")
    found = []
    for name in parents_first(pg, names):
        wanted = [c for c in columns[name] if c not in generated.get(name, set())]
        have = {r[1] for r in src.execute(f'PRAGMA table_info("{name}")')}
        if set(wanted) - have:
            raise SchemaDiffers(f"{name}: no {sorted(set(wanted) - have)} in SQLite")
        order = "id" if "id" in wanted else "rowid" if generated.get(name) else ""
        found.append(Table(name, wanted, order))
    return found


def parents_first(pg: PgConnection, names: set[str]) -> list[str]:
    """By the foreign keys, then by name; the tables triggers fill come last."""
    parents: dict[str, set[str]] = {n: set() for n in names}
    for parent, child, _, _ in pg.conn.execute(FOREIGN_KEYS):
        if child in parents and parent != child:
            parents[child].add(parent)
    done: list[str] = []
    while len(done) < len(names):
        ready = sorted(n for n in names if n not in done and parents[n] <= set(done)
                       and n not in FED_BY_TRIGGERS)
        done += ready or sorted(n for n in names if n not in done)
    return [n for n in done if n not in FED_BY_TRIGGERS] + \
        [n for n in done if n in FED_BY_TRIGGERS]


def one(pg: PgConnection, query: str, *names: str) -> Any:
    """The one value `query` answers, the tables and columns `names` in its {}s."""
    row = pg.conn.execute(sql.SQL(query).format(*map(sql.Identifier, names))).fetchone()
    assert row is not None
    return row[0]


def occupied(pg: PgConnection, names: list[str]) -> list[str]:
    """The tables of `names` (and `installation`) that already hold rows."""
    return [n for n in [*names, "installation"]
            if one(pg, "SELECT EXISTS (SELECT 1 FROM {})", n)]


def count(src: sqlite3.Connection, name: str) -> int:
    return int(src.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])


def rows_of(src: sqlite3.Connection, table: Table, blobs: Blobs) -> Iterator[tuple[Any, ...]]:
    """The source's rows in PostgreSQL's column order, file-kept bytes read into them."""
    listed = ", ".join(f'"{c}"' for c in table.columns)
    order = f" ORDER BY {table.order}" if table.order else ""
    blob = FILES.get(table.name)
    at = (table.columns.index(blob), table.columns.index("path")) if blob else None
    for row in src.execute(f'SELECT {listed} FROM "{table.name}"{order}'):
        if at is not None and row[at[1]]:
            values = list(row)
            values[at[0]], values[at[1]] = (blobs.data_dir / row[at[1]]).read_bytes(), None
            yield tuple(values)
        else:
            yield tuple(row)


def legacy(src: sqlite3.Connection, blobs: Blobs) -> list[tuple[str, Path]]:
    """Attachments kept as files before attachment_data existed (no row): their hashes and
    files, for the rows PostgreSQL gets for them."""
    found = []
    for (sha256,) in src.execute("SELECT DISTINCT sha256 FROM attachments WHERE sha256 NOT IN"
                                 " (SELECT sha256 FROM attachment_data) ORDER BY sha256"):
        path = blobs.attachment_path(sha256)
        if path.is_file():
            found.append((sha256, path))
    return found


def copy_rows(pg: PgConnection, table: Table, rows: Iterator[tuple[Any, ...]],
              progress: Callable[[int], None], every: int = 1000) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.columns)))
    sent = 0
    with pg.conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            sent += 1
            if sent % every == 0:
                progress(every)
    progress(sent % every)
    return sent


def source_bytes(src: sqlite3.Connection, blobs: Blobs) -> int:
    """The bytes of messages and files as the source holds them, counted apart from the
    copy: SQLite's sums of the blobs, and the sizes of the files rows name."""
    total = 0
    for name, column in BYTES.items():
        total += int(src.execute(f'SELECT coalesce(sum(length("{column}")), 0) FROM "{name}"'
                                 ).fetchone()[0])
    for name in FILES:
        for (path,) in src.execute(f'SELECT path FROM "{name}" WHERE path IS NOT NULL'
                                   " AND path <> ''"):
            total += (blobs.data_dir / path).stat().st_size
    return total + sum(path.stat().st_size for _, path in legacy(src, blobs))


def target_bytes(pg: PgConnection) -> int:
    return sum(int(one(pg, "SELECT coalesce(sum(octet_length({})), 0) FROM {}", column, name))
               for name, column in BYTES.items())


def set_sequences(pg: PgConnection, names: list[str]) -> None:
    """Each `id` identity past its largest copied id, so new rows get new ids."""
    for name in names:
        pg.conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), max(id))"
                                " FROM {} HAVING max(id) IS NOT NULL"
                                ).format(sql.Identifier(name)), (name,))


def verify(pg: PgConnection, expected: dict[str, int], expected_bytes: int) -> Copied:
    """Raises Mismatch naming the first table (or the bytes) that differ."""
    for name, want in expected.items():
        have = int(one(pg, "SELECT count(*) FROM {}", name))
        if have != want:
            raise Mismatch(f"table {name}: {want} rows in SQLite, {have} in PostgreSQL")
    have_bytes = target_bytes(pg)
    if have_bytes != expected_bytes:
        raise Mismatch(f"bytes of messages and files: {expected_bytes} in SQLite,"
                       f" {have_bytes} in PostgreSQL")
    return Copied(dict(expected), have_bytes)
