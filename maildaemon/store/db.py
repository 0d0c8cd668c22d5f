"""The connection the entity modules write their SQL against, whichever backend holds it.

The modules take a `Db` and rows that are `Row`s. On SQLite that is the `sqlite3.Connection`
itself (with `sqlite3.Row`); on PostgreSQL it is `pg/connection.py`'s `PgConnection`, which
runs the same statements: written once, in the SQL both dialects share (`ON CONFLICT`,
`RETURNING`, `?` and `:name` parameters), with the few places that differ translated there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Row(Protocol):
    """A row: its columns by position and by name, as schema.sql names them. SQLite's
    `sqlite3.Row` is one, and so is PostgreSQL's `PgRow`."""

    def keys(self) -> Iterable[str]: ...
    def __getitem__(self, key: Any, /) -> Any: ...


class Cursor(Protocol):
    @property
    def lastrowid(self) -> int | None: ...
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Db(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...
    def close(self) -> None: ...


class Transactional(Protocol):
    """A store's connection and its write transaction (the backend's own BEGIN)."""

    @property
    def conn(self) -> Db: ...
    def transaction(self) -> AbstractContextManager[Any]: ...
