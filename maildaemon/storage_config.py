"""`[storage] database`: which server holds the tickets (issue 15).

Empty (the default): SQLite in `data_dir`. Otherwise a PostgreSQL URL,
`postgresql://user@host:5432/dbname` (libpq's own URI form, so `?sslmode=verify-full`
and the like work as libpq documents them). The password is never in the TOML: a URL
holding one is refused. It comes from `database_password_file` (its first line), or else
from what libpq reads itself: `PGPASSWORD`, `~/.pgpass` (`PGPASSFILE`), and the other
`PG*` variables for whatever the URL leaves out.

config.py calls `check` while loading; the ValueError names the key and `check-config`
exits 78 with it. Whether the server answers is `check-config`'s next step (cli.py).
"""

from __future__ import annotations

from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

SCHEMES = ("postgresql://", "postgres://")


def check(database: str, password_file: str) -> None:
    url = database.strip()
    if not url:
        if password_file.strip():
            raise ValueError("storage.database_password_file is set but storage.database"
                             " is empty (SQLite needs no password)")
        return
    if not url.startswith(SCHEMES):
        raise ValueError("storage.database must be empty (SQLite in data_dir) or a URL"
                         f" such as \"postgresql://maildaemon@db.example.com/maildaemon\","
                         f" not {url!r}")
    try:
        parts = conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError: libpq's words for a bad URL
        raise ValueError(f"storage.database is not a valid PostgreSQL URL: {exc}") from None
    if parts.get("password"):
        raise ValueError("storage.database must not hold the password: put it in"
                         " storage.database_password_file, PGPASSWORD or ~/.pgpass")
    password(password_file)


def password(password_file: str) -> str | None:
    """The password from `database_password_file`, or None (libpq finds its own)."""
    if not password_file.strip():
        return None
    path = Path(password_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"storage.database_password_file: cannot read {path}: {exc}"
                         ) from None
    if not lines or not lines[0]:
        raise ValueError(f"storage.database_password_file: {path} has no password on its"
                         " first line")
    return lines[0]
