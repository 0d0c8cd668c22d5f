"""Files are whole and on disk before anything refers to them: the ticket database's, and
the maildir's, where a file appears in new/ only once it is fsynced."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from maildaemon.files import remove_stale_temporaries
from maildaemon.sender import Leased, MaildirTransport
from maildaemon.store import Store
from maildaemon.store.blobs import FILE_BYTES


def leftovers(root: Path) -> list[Path]:
    return list(root.rglob(".*.tmp"))


def test_a_staged_file_appears_whole_when_the_transaction_commits(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    target = tmp_path / "data" / "attachments" / "ab" / "abcdef"
    with store.transaction() as conn:
        store.blobs.files.stage(target, b"the customer's file")
        store.blobs.files.stage(target, b"the customer's file")  # the same file twice: once
        assert not target.exists()  # nothing carries the final name before the fsync
        conn.execute("INSERT INTO processed (key_hash, spool_id, outcome, at)"
                     " VALUES (1, 'kept', 'test', 'now')")
    assert target.read_bytes() == b"the customer's file"
    assert store.processed_outcome("kept") == ("test", None)
    assert leftovers(tmp_path) == []


def test_a_transaction_that_fails_leaves_no_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    target = tmp_path / "data" / "attachments" / "cd" / "cdef"
    with pytest.raises(RuntimeError), store.transaction():
        store.blobs.files.stage(target, b"bytes")
        raise RuntimeError("the batch failed")
    assert not target.exists() and leftovers(tmp_path) == []


def test_a_file_that_cannot_be_kept_rolls_the_transaction_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    target = tmp_path / "data" / "attachments" / "ef" / "ef01"
    with pytest.raises(OSError), store.transaction() as conn:
        conn.execute("INSERT INTO processed (key_hash, spool_id, outcome, at)"
                     " VALUES (1, 'gone', 'test', 'now')")
        store.blobs.files.stage(target, b"bytes")
        target.mkdir()  # the rename onto this name will fail
    assert store.conn.execute("SELECT count(*) FROM processed").fetchone()[0] == 0
    assert leftovers(tmp_path) == []


def test_small_blobs_live_in_the_database_and_large_ones_in_files(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    small, large = b"s" * 1000, b"L" * FILE_BYTES
    with store.transaction() as conn:
        store.blobs.keep_attachment(conn, "aa" * 32, small)
        store.blobs.keep_attachment(conn, "bb" * 32, large)
        small_raw = store.blobs.keep_raw(conn, "dd" * 32, small)
        large_raw = store.blobs.keep_raw(conn, "cc" * 32, large)
    files = sorted(p.relative_to(tmp_path / "data").as_posix()
                   for p in (tmp_path / "data").rglob("*") if p.is_file()
                   and "sqlite3" not in p.name and p.name != "secret.key")
    assert files == [f"attachments/bb/{'bb' * 32}", f"raw/cc/{'cc' * 32}.eml"]
    assert store.reads.attachment_bytes("aa" * 32) == small
    assert store.reads.attachment_bytes("bb" * 32) == large
    assert store.reads.raw_message(small_raw) == small
    assert store.reads.raw_message(large_raw) == large
    assert store.reads.attachment_bytes("ee" * 32) is None
    assert store.reads.raw_message(large_raw + 1) is None


def test_an_attachment_kept_as_a_file_before_the_table_existed_is_found(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    legacy = tmp_path / "data" / "attachments" / "ee" / ("ee" * 32)
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"from an older version")
    assert store.reads.attachment_bytes("ee" * 32) == b"from an older version"


def leased(id_: int, raw: bytes) -> Leased:
    return Leased(id=id_, message_id=f"<m{id_}@healthsync.com>",
                  mail_from="support@healthsync.com", rcpt_to="ann@example.org", raw=raw,
                  attempts=1)


def test_the_maildir_gets_whole_files_once(tmp_path: Path) -> None:
    maildir = MaildirTransport(tmp_path / "out")
    rows = [leased(1, b"Subject: one\r\n\r\nfirst\r\n"), leased(2, b"Subject: two\r\n\r\n2\r\n")]
    assert maildir.deliver_batch(rows) == [None, None]
    new = sorted((tmp_path / "out" / "new").iterdir())
    assert [p.read_bytes() for p in new] == [b"Subject: one\n\nfirst\n", b"Subject: two\n\n2\n"]
    assert list((tmp_path / "out" / "tmp").iterdir()) == []  # nothing left half-way
    assert maildir.deliver_batch(rows[:1]) == [None]  # redelivered after a crash: same name
    assert len(list((tmp_path / "out" / "new").iterdir())) == 2
    new[0].rename(tmp_path / "out" / "cur" / new[0].name)  # a reader took it
    assert maildir.deliver_batch(rows[:1]) == [None]
    assert len(list((tmp_path / "out" / "new").iterdir())) == 1  # not delivered twice


def test_old_temporary_files_of_a_killed_process_are_removed(tmp_path: Path) -> None:
    old = tmp_path / "attachments" / "ab" / ".abcd.1234.tmp"
    fresh = tmp_path / "raw" / "cd" / ".cdef.eml.5678.tmp"
    kept = tmp_path / "attachments" / "ab" / "abcd"
    for path in (old, fresh, kept):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(kept, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temporaries([tmp_path / "attachments", tmp_path / "raw"]) == 1
    assert not old.exists() and fresh.exists() and kept.exists()
