"""The whole move of an SQLite installation into an empty PostgreSQL database, as one
transaction (copy.py says how each table goes; migrate_cli.py is the command).

`Move` opens the source's read transaction and counts its rows first, so the command can
size its progress bar on the same snapshot it then copies; `run` copies, sets the
sequences, keeps the installation's HMAC key (`data_dir/secret.key` on SQLite) as
`installation`'s 'secret', and verifies before it commits. The target's schema is created
by migrations.apply beforehand; a target with rows anywhere is refused (`NotEmpty`) before
anything is written.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from maildaemon.store.pg import copy, migrations
from maildaemon.store.pg.connection import PgConnection
from maildaemon.store.pg.copy import Copied, NotEmpty
from maildaemon.store.sqlite_store import Store


class Move:
    def __init__(self, pg: PgConnection, data_dir: Path) -> None:
        """Opens the SQLite store of `data_dir`, which migrates it to this code's version
        (the two schemas then hold the same tables); `close` closes it."""
        self.source = Store(data_dir)
        try:
            self._prepare(pg)
        except BaseException:
            self.source.close()
            raise

    def _prepare(self, pg: PgConnection) -> None:
        migrations.apply(pg)
        self.pg = pg
        self.src = self.source.conn
        self.blobs = self.source.blobs
        self.tables = copy.tables(pg, self.src)
        busy = copy.occupied(pg, [t.name for t in self.tables])
        if busy:
            raise NotEmpty(", ".join(busy))
        self.src.execute("BEGIN")  # one snapshot of the source from here on
        self.legacy = copy.legacy(self.src, self.blobs)
        self.expected = {t.name: copy.count(self.src, t.name) for t in self.tables}
        self.expected["attachment_data"] += len(self.legacy)
        self.bytes = copy.source_bytes(self.src, self.blobs)

    def close(self) -> None:
        self.source.close()

    @property
    def total(self) -> int:
        """Rows to copy, for the progress bar."""
        return sum(self.expected.values())

    def run(self, secret: str | None, progress: Callable[[int], None],
            started: Callable[[str], None] = lambda name: None) -> Copied:
        """Copy, verify, commit; raises (and leaves the target's tables empty) on any
        failure, `copy.Mismatch` for a verification that failed."""
        try:
            with self.pg.transaction():
                busy = copy.occupied(self.pg, [t.name for t in self.tables])
                if busy:  # written since __init__: another migrate, or a node started on it
                    raise NotEmpty(", ".join(busy))
                for table in self.tables:
                    started(table.name)
                    if table.name in copy.FED_BY_TRIGGERS:
                        self.pg.execute(f'DELETE FROM "{table.name}"')
                    rows: Any = copy.rows_of(self.src, table, self.blobs)
                    if table.name == "attachment_data":
                        rows = itertools.chain(rows, ((sha256, path.read_bytes(), None)
                                                      for sha256, path in self.legacy))
                    copy.copy_rows(self.pg, table, rows, progress)
                copy.set_sequences(self.pg, [t.name for t in self.tables
                                             if t.order == "id"])
                if secret is not None:
                    self.pg.execute("INSERT INTO installation (name, value)"
                                    " VALUES ('secret', ?)", (secret,))
                return copy.verify(self.pg, self.expected, self.bytes)
        finally:
            self.src.execute("ROLLBACK")
