"""The current shape of the ticket database in one file (`schema.sql`), beside the chain of
migrations that builds it (schema.py): what a reader, a reviewer or the author of a second
backend wants to see. tests/test_schema_dump.py checks that it matches a freshly migrated
database. Regenerate with:

    .venv/bin/python -m maildaemon.store.schema_dump > maildaemon/store/schema.sql
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
KINDS = ("table", "index", "trigger", "view")
HEADER = ("-- The ticket database as the migrations leave it (generated: see schema_dump.py).\n"
          "-- Tables, then indexes, triggers and views, each sorted by name.\n")


def dump(conn: sqlite3.Connection) -> str:
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                        " AND name NOT LIKE 'sqlite_%'").fetchall()
    rows.sort(key=lambda row: (KINDS.index(row[0]), row[1]))
    return HEADER + "\n" + "\n\n".join(_tidy(sql) for _, _, sql in rows) + "\n"


def _tidy(sql: str) -> str:
    """One statement, its column lines indented alike whichever migration wrote them."""
    first, *rest = sql.strip().splitlines()
    lines = [first.rstrip()]
    lines += [line.strip() if line.strip().startswith(")") else "    " + line.strip()
              for line in rest if line.strip()]
    return "\n".join(lines) + ";"


def fresh_dump() -> str:
    """The dump of a database created and migrated from nothing, as `Store` does."""
    from maildaemon.store.sqlite_store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        try:
            return dump(store.conn)
        finally:
            store.close()


if __name__ == "__main__":
    sys.stdout.write(fresh_dump())
