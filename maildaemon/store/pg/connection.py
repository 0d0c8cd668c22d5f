"""`PgConnection`: a psycopg 3 connection that runs the entity modules' SQL as written.

The modules write SQL once, for both backends (store/db.py). What PostgreSQL reads
differently is translated here, once per statement text (cached):

- parameters: `?` becomes `%s`, `:name` becomes `%(name)s`, a literal `%` becomes `%%`;
- `INSERT OR IGNORE INTO t ...` becomes `INSERT INTO t ... ON CONFLICT DO NOTHING`;
- `json_each(x)` (the recipients' JSON lists) becomes `json_array_elements_text(x::json)`
  with its column named `value`, as SQLite names it;
- an INSERT into a table with an `id` column gets `RETURNING id`, so `lastrowid` is what
  sqlite3 would say.

Rows are `PgRow`s, readable by position and by name like `sqlite3.Row`; Python booleans
are sent as 0 and 1, as SQLite stores them in the INTEGER columns both schemas use.
The connection is in autocommit: a statement outside `transaction()` commits on its own,
as one outside `BEGIN` does on SQLite.

A connection the server dropped (a restart, a network outage) is opened again by the next
statement or transaction that begins outside a transaction, never inside one: what a lost
transaction had written is gone with it, and its caller must hear so (the error). So a
long-running node resumes by itself when its database returns (issue 15, "Bad input").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.rows import RowMaker

TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\?|:[A-Za-z_][A-Za-z0-9_]*|::|%")
OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\s", re.IGNORECASE)
INSERT_INTO = re.compile(r"^\s*INSERT\s+INTO\s+\"?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
JSON_EACH = re.compile(r"\bjson_each\(([^()]*)\)", re.IGNORECASE)


class PgRow:
    """A row by position (`row[0]`, unpacking) and by column name (`row["status"]`)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = tuple(values)
        self._index = index

    def keys(self) -> list[str]:
        return list(self._index)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, PgRow | tuple) else other)

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))!r})"


class WholeNumbers(Loader):
    """`numeric` as SQLite gives it: an int when whole (sum() of BIGINTs is numeric in
    PostgreSQL), else a float."""

    def load(self, data: Buffer) -> int | float:
        text = bytes(data)
        return float(text) if b"." in text or b"e" in text.lower() else int(text)


def pg_row(cursor: psycopg.Cursor[Any]) -> RowMaker[PgRow]:
    names = [c.name for c in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}
    return lambda values: PgRow(values, index)


@lru_cache(maxsize=2048)
def translate(sql: str, id_tables: frozenset[str]) -> tuple[str, bool]:
    """(PostgreSQL's text of `sql`, whether it returns the new row's id for lastrowid)."""
    def token(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "?":
            return "%s"
        if text == "%":
            return "%%"
        if text.startswith(":") and text != "::":
            return f"%({text[1:]})s"
        return text

    text = JSON_EACH.sub(r"json_array_elements_text((\1)::json) AS json_each(value)", sql)
    text = TOKENS.sub(token, text)
    ignore = OR_IGNORE.match(text) is not None
    if ignore:
        text = OR_IGNORE.sub("INSERT INTO ", text, count=1)
    returning = RETURNING.search(text)
    tail = ""
    if ignore:
        tail = " ON CONFLICT DO NOTHING"
    inserted = INSERT_INTO.match(text)
    wants_id = inserted is not None and returning is None and \
        inserted.group(1).lower() in id_tables
    if tail:
        if returning:
            text = text[:returning.start()] + tail.strip() + " " + text[returning.start():]
        else:
            text = text.rstrip().rstrip(";") + tail
    if wants_id:
        text = text.rstrip().rstrip(";") + " RETURNING id"
    return text, wants_id


def sendable(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def parameters(params: Any) -> Any:
    if params is None:
        return None
    if isinstance(params, dict):
        return {k: sendable(v) for k, v in params.items()}
    return [sendable(v) for v in params]


ID_TABLES = ("SELECT table_name FROM information_schema.columns"
             " WHERE table_schema = current_schema() AND column_name = 'id'")


class PgCursor:
    """What a statement left: its rows (read at once, so that its connection may go back
    to a pool), the rows it changed, the id it inserted."""

    def __init__(self, cursor: psycopg.Cursor[PgRow], wants_id: bool) -> None:
        self.rows: list[PgRow] = cursor.fetchall() if cursor.description is not None else []
        self.at = 0
        self.rowcount = cursor.rowcount
        self.lastrowid: int | None = None
        if wants_id and self.rows:
            self.lastrowid = int(self.rows[0][0])
            self.at = 1

    def fetchone(self) -> Any:
        if self.at >= len(self.rows):
            return None
        self.at += 1
        return self.rows[self.at - 1]

    def fetchall(self) -> list[Any]:
        rest, self.at = self.rows[self.at:], len(self.rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


def connect(url: str, password: str | None, timeout: float) -> psycopg.Connection[PgRow]:
    extra: dict[str, Any] = {"password": password} if password else {}
    conn = psycopg.connect(url, autocommit=True, row_factory=pg_row,
                           connect_timeout=max(1, int(timeout)), **extra)
    conn.adapters.register_loader("numeric", WholeNumbers)
    return conn


class PgConnection:
    """A `Db` (store/db.py) on one psycopg connection, opened again after a loss."""

    def __init__(self, conn: psycopg.Connection[PgRow], id_tables: frozenset[str],
                 url: str = "", password: str | None = None, timeout: float = 10.0) -> None:
        self.conn = conn
        self.id_tables = id_tables
        self.url, self.password, self.timeout = url, password, timeout
        self.depth = 0  # transactions open on this connection (nested: savepoints)

    @classmethod
    def open(cls, url: str, password: str | None = None, timeout: float = 10.0
             ) -> PgConnection:
        opened = cls(connect(url, password, timeout), frozenset(), url, password, timeout)
        opened.refresh_tables()
        return opened

    def _revive(self) -> None:
        """Outside a transaction, a connection the server dropped is opened again (raises
        psycopg's OperationalError while the server cannot be reached)."""
        if self.depth == 0 and self.conn.closed and self.url:
            self.conn = connect(self.url, self.password, self.timeout)

    def refresh_tables(self) -> None:
        """Which tables have an `id` (read again after the migrations created them)."""
        rows = self.conn.execute(ID_TABLES.encode()).fetchall()
        self.id_tables = frozenset(str(r[0]) for r in rows)

    def execute(self, sql: str, params: Any = None, /) -> PgCursor:
        text, wants_id = translate(sql, self.id_tables)
        self._revive()
        cursor = self.conn.cursor()
        cursor.execute(text.encode(), parameters(params))
        return PgCursor(cursor, wants_id)

    def executemany(self, sql: str, seq: Iterable[Any], /) -> PgCursor:
        text, _ = translate(sql, frozenset())  # no RETURNING: nobody reads it
        self._revive()
        cursor = self.conn.cursor()
        cursor.executemany(text.encode(), [parameters(p) for p in seq])
        return PgCursor(cursor, False)

    def transaction(self) -> AbstractContextManager[Any]:
        """BEGIN ... COMMIT, or a savepoint inside one already open."""
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        self._revive()
        self.depth += 1
        try:
            with self.conn.transaction() as tx:
                yield tx
        finally:
            self.depth -= 1

    def close(self) -> None:
        self.conn.close()
