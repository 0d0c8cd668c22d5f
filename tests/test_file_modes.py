"""Tickets hold health data: the data directory is the service user's alone, whatever the
umask the daemon was started with (022 is the usual one: files 0644, readable by all)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import DOMAIN, FIXTURES, Installation, acks_to, mail, wait_until
from tests.test_attachments import PDF

MIB = 1024 * 1024


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """umask 022 for this process and so for every process a test starts."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes_under(root: Path) -> dict[str, int]:
    """Every file and directory under `root` (itself included) -> its permission bits.
    Not symbolic links (`templates.in-force`): Linux ignores a link's own mode, and what it
    points to is listed by its own name."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        if not path.is_symlink():
            found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def loose(modes: dict[str, int], root: Path) -> list[str]:
    return [f"{name} {mode:o}" for name, mode in sorted(modes.items())
            if mode != (0o700 if (root / name).is_dir() else 0o600)]


def with_large_pdf(sender: str) -> EmailMessage:
    """A message over 1 MB with a file over 1 MB: both are kept as files, not in SQLite."""
    msg = mail(sender=sender, subject="Scan of my referral")
    msg.add_attachment(PDF + b"%" + b"0" * (MIB + MIB // 2), maintype="application",
                       subtype="pdf", filename="referral.pdf")
    return msg


@pytest.mark.slow
def test_every_file_is_private_under_umask_022(loose_umask: None, tmp_path: Path) -> None:
    inst = Installation(tmp_path, max_message_size=8 * MIB)
    inst.start()
    try:
        inst.send(with_large_pdf("pat@example.org"))
        inst.cli("ingest", "-", stdin=bytes(mail(sender="lee@example.org")))
        inst.wait_processed(2, 60)
        wait_until(lambda: acks_to(inst, "pat@example.org"), 30, "the acknowledgement")
        # Looked at while the daemon runs: SQLite's -wal and -shm files exist only then.
        data, outbound = modes_under(tmp_path / "data"), modes_under(tmp_path / "outbound")
    finally:
        inst.stop()
    names = set(data)
    for expected in ("spool.sqlite3-wal", "maildaemon.sqlite3-shm", "secret.key"):
        assert expected in names, sorted(names)
    assert any(n.startswith("attachments/") and not inst.tmp.joinpath("data", n).is_dir()
               for n in names), sorted(names)
    assert any(n.startswith("raw/") and n.endswith(".eml") for n in names), sorted(names)
    assert any(n.startswith("new/") for n in outbound), sorted(outbound)
    assert loose(data, tmp_path / "data") == []
    assert loose(outbound, tmp_path / "outbound") == []
    assert "warning" not in inst.cli("check-config").stderr  # and check-config agrees


def test_a_readable_data_dir_is_tightened_by_any_command(loose_umask: None,
                                                         tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    inst.cli("ingest", str(FIXTURES / "plain_new.eml"))
    # As an older version under umask 022 left it: directories 0755, files 0644.
    for path in [tmp_path / "data", *(tmp_path / "data").iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (tmp_path / "outbound").chmod(0o755)
    inst.cli("tickets")
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "outbound").stat().st_mode) == 0o700
    top = modes_under(tmp_path / "data")
    top = {name: mode for name, mode in top.items() if "/" not in name}
    assert {"maildaemon.sqlite3", "spool.sqlite3", "secret.key"} <= set(top)
    assert loose(top, tmp_path / "data") == []


def test_tightening_never_adds_a_permission(tmp_path: Path) -> None:
    from maildaemon.files import make_private

    (tmp_path / "data").mkdir(mode=0o500)
    make_private(tmp_path / "data")
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o500


# -- `attachment` and `raw` --output into a directory ------------------------------------

def test_output_into_a_directory_uses_the_attachments_own_name(tmp_path: Path) -> None:
    inst = Installation(tmp_path, max_message_size=8 * MIB)
    msg = mail(sender="kim@example.org")
    msg.add_attachment(PDF + b"%small", maintype="application", subtype="pdf",
                       filename="lab results.pdf")
    inst.cli("ingest", "-", stdin=bytes(msg))
    [ticket] = inst.tickets()
    exports = tmp_path / "exports"
    exports.mkdir()
    result = inst.cli("attachment", ticket["number"], "1", "--output", str(exports))
    assert (exports / "lab results.pdf").read_bytes() == PDF + b"%small"
    assert f"-> {exports / 'lab results.pdf'}" in result.stderr
    # Never over a file already there (the directory may be someone's home).
    (exports / "lab results.pdf").write_bytes(b"mine")
    again = inst.cli("attachment", ticket["number"], "1", "--output", str(exports),
                     check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    assert (exports / "lab results.pdf").read_bytes() == b"mine"
    inst.cli("raw", ticket["number"], "--output", str(exports))
    assert (exports / f"{ticket['number']}-message-1.eml").read_bytes() == bytes(msg)


# -- log lines carry their time ----------------------------------------------------------

STAMPED = re.compile(r"^ts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z level=error "
                     r'logger=maildaemon\.cli msg="temporary failure: ', re.M)


def failing_ingest(tmp_path: Path, env: dict[str, str] | None = None
                   ) -> tuple[int, str]:
    """`ingest` on a data directory that cannot be made (its parent is a file)."""
    (tmp_path / "a-file").write_text("")
    config = tmp_path / "broken.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "a-file" / "data"}"\n'
                      f'[mail]\ndomain = "{DOMAIN}"\n')
    log = tmp_path / "stderr.log"
    with open(log, "wb") as stderr:
        if env is not None:
            info = os.fstat(stderr.fileno())
            env = {**os.environ, **env, "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        code = subprocess.run(
            [sys.executable, "-m", "maildaemon", "--config", str(config), "ingest", "-"],
            input=bytes(mail()), stdout=subprocess.DEVNULL, stderr=stderr, timeout=60,
            env=env).returncode
    return code, log.read_text()


def test_a_temporary_failure_is_logged_with_its_utc_time(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    code, text = failing_ingest(tmp_path)
    assert code == 75
    match = STAMPED.search(text)
    assert match, text
    logged = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    assert before <= logged <= datetime.now(UTC) + timedelta(seconds=1)  # UTC, not local


def test_under_journald_the_journal_stamps_the_line(tmp_path: Path) -> None:
    code, text = failing_ingest(tmp_path, env={})
    assert code == 75
    assert text.startswith('<3>level=error logger=maildaemon.cli msg="temporary failure: '), text


# -- check-config warns of what is not the service user's alone ---------------------------

def test_check_config_warns_of_loose_modes_anywhere_below(loose_umask: None,
                                                          tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    inst.cli("ingest", str(FIXTURES / "plain_new.eml"))
    clean = inst.cli("check-config")
    assert "warning" not in clean.stderr  # what we made under umask 022 is private
    deep = next(p for p in (tmp_path / "outbound").rglob("*") if p.is_file())
    deep.chmod(0o644)
    (tmp_path / "data").chmod(0o755)
    warned = inst.cli("check-config")  # a warning, not an error: exit 0
    assert f"{tmp_path / 'data'} 0755" in warned.stderr
    assert f"{deep} 0644" in warned.stderr and "chmod -R go=" in warned.stderr
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o755  # reported, not changed
