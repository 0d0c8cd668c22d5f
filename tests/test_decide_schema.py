"""`maildaemon decide` on a data directory it cannot read: it says why, and changes nothing.

`decide` opens the ticket database read-only, so it cannot migrate it. A database at an
older schema (built here by the real migrations, stopped early, as test_migrations.py
does), at a newer one (a migration this code does not know), a file that is no database
and a data directory without one each get a message naming the cause, no traceback, and
leave every file as it was.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlite_utils

from maildaemon.schema import code_version, migrations
from maildaemon.sqlite import connect
from maildaemon.store import TEMPORARY_ERRORS, Store
from maildaemon.store.errors import SchemaTooOld
from maildaemon.store.readonly import NoDatabase, ReadOnlyStore, SchemaTooNew
from tests.conftest import Installation

BEFORE_PARTICIPANTS = "m015_participants_on_the_ticket"  # leaves schema version 14
SIDE_FILES = {"maildaemon.sqlite3-wal", "maildaemon.sqlite3-shm"}  # any reader's, empty
MESSAGE = b"From: ann@example.org\r\nTo: support@healthsync.com\r\nSubject: Printer\r\n" \
          b"Message-ID: <fire@example.org>\r\n\r\nIt burns.\r\n"


def migrated(data: Path, stop_before: str | None = None, newer: bool = False) -> Path:
    """A real ticket database in `data`, every connection to it closed."""
    data.mkdir(parents=True, exist_ok=True)
    conn = connect(data / "maildaemon.sqlite3")
    db = sqlite_utils.Database(conn)
    migrations.apply(db, stop_before=stop_before)
    if newer:  # as a later maildaemon's migration would record itself
        db.table("_sqlite_migrations").insert({"migration_set": migrations.name,
                                         "name": "m999_from_a_later_release",
                                         "applied_at": "2027-01-01 00:00:00+00:00"})
    conn.close()
    return data


def fingerprint(data: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(data.iterdir()) if p.is_file()}


def unchanged(before: dict[str, str], data: Path) -> bool:
    after = fingerprint(data)
    return {k: after.get(k) for k in before} == before and set(after) - set(before) <= SIDE_FILES


def test_the_code_version_is_the_number_of_the_last_migration() -> None:
    """Versions are read from the names: they must count 1, 2, 3... with no gap."""
    names = [m.name for m in migrations.pending(sqlite_utils.Database(memory=True))]
    assert [name[:5] for name in names] == [f"m{n:03}_" for n in range(1, len(names) + 1)]
    assert code_version() == len(names) >= 18


def test_an_older_schema_names_both_versions_and_how_to_migrate(tmp_path: Path) -> None:
    data = migrated(tmp_path / "data", stop_before=BEFORE_PARTICIPANTS)
    before = fingerprint(data)
    with pytest.raises(SchemaTooOld) as raised:
        ReadOnlyStore(data)
    text = str(raised.value)
    assert f"schema version 14, this maildaemon needs {code_version()}" in text
    assert "`maildaemon serve`" in text
    assert isinstance(raised.value, TEMPORARY_ERRORS)  # exit 75, as the README says
    assert unchanged(before, data)
    Store(data).close()  # what serve or any writing command does first: migrate
    ReadOnlyStore(data).close()


def test_a_newer_schema_is_refused_too(tmp_path: Path) -> None:
    data = migrated(tmp_path / "data", newer=True)
    before = fingerprint(data)
    with pytest.raises(SchemaTooNew) as raised:
        ReadOnlyStore(data)
    assert f"schema version 999, newer than this maildaemon reads ({code_version()})" \
        in str(raised.value)
    assert isinstance(raised.value, NoDatabase)  # exit 78, as without a database
    assert unchanged(before, data)


def test_a_file_that_is_no_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "maildaemon.sqlite3").write_bytes(b"not a database, " * 512)
    before = fingerprint(data)
    with pytest.raises(NoDatabase, match="is not a ticket database"):
        ReadOnlyStore(data)
    assert fingerprint(data) == before


def test_the_current_schema_opens(tmp_path: Path) -> None:
    ReadOnlyStore(migrated(tmp_path / "data")).close()


@pytest.mark.slow
def test_the_command_exits_75_on_an_older_schema_and_78_on_a_newer_one(
        tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    message = tmp_path / "m.eml"
    message.write_bytes(MESSAGE)
    data = migrated(tmp_path / "data", stop_before=BEFORE_PARTICIPANTS)
    before = fingerprint(data)
    old = inst.cli("decide", str(message), check=False)
    assert old.returncode == 75, old.stderr
    assert f"schema version 14, this maildaemon needs {code_version()}" in old.stderr
    assert "Traceback" not in old.stderr and old.stdout == ""
    assert unchanged(before, data)

    (tmp_path / "b").mkdir()
    later = Installation(tmp_path / "b")
    migrated(tmp_path / "b" / "data", newer=True)
    new = later.cli("decide", str(message), check=False)
    assert new.returncode == 78, new.stderr
    assert "newer than this maildaemon" in new.stderr and "Traceback" not in new.stderr


@pytest.mark.slow
def test_a_data_directory_without_a_database_gets_78_and_stays_empty(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    (tmp_path / "data").mkdir()
    message = tmp_path / "m.eml"
    message.write_bytes(MESSAGE)
    result = inst.cli("decide", str(message), "--json", check=False)
    assert result.returncode == 78 and "no data directory" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert list((tmp_path / "data").iterdir()) == []
