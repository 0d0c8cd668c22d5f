"""The storage errors that mean "try again later" (a locked or unreachable database, a
full disk), for callers that must not name the backend: `ingest` exits 75 on them."""

from __future__ import annotations

import sqlite3

TEMPORARY_ERRORS: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
