"""maildaemon/store/schema.sql is the ticket database's current shape: it must be what the
migrations build, or it misleads whoever reads it instead of the chain of migrations."""

from __future__ import annotations

from pathlib import Path

from maildaemon.sqlite import connect
from maildaemon.store import Store
from maildaemon.store.schema_dump import SCHEMA_SQL, dump, fresh_dump

REGENERATE = ".venv/bin/python -m maildaemon.store.schema_dump > maildaemon/store/schema.sql"


def test_schema_sql_matches_a_freshly_migrated_database() -> None:
    assert fresh_dump() == SCHEMA_SQL.read_text(), \
        f"schema.sql is out of date with the migrations; regenerate it: {REGENERATE}"


def test_the_dump_sees_a_change_to_the_schema(tmp_path: Path) -> None:
    """The check can fail: one more column and the dump differs."""
    Store(tmp_path / "data").close()
    conn = connect(tmp_path / "data" / "maildaemon.sqlite3")
    before = dump(conn)
    conn.execute("ALTER TABLE tickets ADD COLUMN escalation_level INTEGER")
    after = dump(conn)
    assert before == SCHEMA_SQL.read_text()
    assert after != before and "escalation_level" in after
