"""Issue 12, `maildaemon customers import|list|set|remove`, run as ops run it: the real CLI
as a subprocess on a real data directory (customers_cli.py, customer_csv.py)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from typing import Any

from tests.conftest import Installation

HEADER = "email,tier,name,account_manager\n"


def listed(inst: Installation) -> list[dict[str, Any]]:
    return list(json.loads(inst.cli("customers", "list", "--json").stdout))


def import_(inst: Installation, content: str | bytes,
            name: str = "customers.csv") -> subprocess.CompletedProcess[str]:
    path = inst.tmp / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return inst.cli("customers", "import", str(path), check=False)


def test_bad_rows_are_reported_by_line_and_the_good_ones_kept(
        installation: Installation) -> None:
    result = import_(installation, HEADER + "\n".join([
        "ann@example.org,premium,Ann,am@healthsync.com",  # line 2
        "bob@example.org,gold,Bob,",  # line 3: unknown tier
        ",free,Nobody,",  # line 4: missing email
        "not-an-address,plus,,",  # line 5: malformed
        "",  # line 6: blank, skipped in silence
        "carl@example.org,Enterprise,Carl,am@@x",  # line 7: bad account manager
        "dora@example.org,free,,",  # line 8
    ]) + "\n")
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert errors[:4] == [
        "customers.csv:3: skipped: unknown tier 'gold' (one of free, plus, premium, "
        "enterprise)",
        "customers.csv:4: skipped: missing email",
        "customers.csv:5: skipped: not a valid address (no local part@domain): "
        "'not-an-address'",
        "customers.csv:7: skipped: account_manager: not a valid address (local part): "
        "'am@@x'",
    ]
    assert "4 rows skipped" in result.stderr
    assert result.stdout == "imported 2 customers from customers.csv, 4 rows skipped\n"
    assert listed(installation) == [
        {"email": "ann@example.org", "tier": "premium", "name": "Ann",
         "account_manager": "am@healthsync.com"},
        {"email": "dora@example.org", "tier": "free", "name": "", "account_manager": None},
    ]


def test_importing_again_updates_and_a_missing_column_keeps_what_was_there(
        installation: Installation) -> None:
    assert import_(installation, HEADER + "Ann@Example.org,plus,Ann,am@healthsync.com\n"
                   ).returncode == 0
    assert import_(installation, "tier,email\npremium,ann@example.org\n").returncode == 0
    assert listed(installation) == [{"email": "ann@example.org", "tier": "premium",
                                     "name": "Ann", "account_manager": "am@healthsync.com"}]
    assert import_(installation, HEADER + "ann@example.org,free,Ann B.,\n").returncode == 0
    assert listed(installation)[0] == {"email": "ann@example.org", "tier": "free",
                                       "name": "Ann B.", "account_manager": None}


def test_excel_files_utf8_with_a_bom_and_semicolons(installation: Installation) -> None:
    excel = ("\ufeffEmail;Tier;Name\r\n"
             "zoe@example.org;premium;\"Zoë Ångström; MD\"\r\n"
             "李@example.org;plus;李小龙\r\n").encode()
    assert import_(installation, excel).returncode == 0
    assert [(c["email"], c["name"]) for c in listed(installation)] == [
        ("zoe@example.org", "Zoë Ångström; MD"), ("李@example.org", "李小龙")]
    text = installation.cli("customers", "list").stdout
    assert "Zoë Ångström; MD" in text and "premium" in text


def test_a_latin1_row_is_a_bad_row_not_a_crash(installation: Installation) -> None:
    latin1 = (HEADER + "ann@example.org,plus,Zoë,\nbob@example.org,plus,Bob,\n"
              ).encode("latin-1")
    result = import_(installation, latin1)
    assert result.returncode == 1
    assert "customers.csv:2: skipped: not UTF-8 text" in result.stderr
    assert [c["email"] for c in listed(installation)] == ["bob@example.org"]


def test_a_file_that_is_no_customer_list_is_refused_whole(
        installation: Installation) -> None:
    result = import_(installation, "email,tier,acount_manager\na@b.org,free,x@y.org\n")
    assert result.returncode == 65
    assert "unknown or repeated column 'acount_manager'" in result.stderr
    assert import_(installation, "name\nAnn\n").returncode == 65
    assert import_(installation, "").returncode == 65
    missing = installation.cli("customers", "import", "nope.csv", check=False)
    assert missing.returncode == 2 and "not a readable file" in missing.stderr
    assert listed(installation) == []


def test_set_and_remove(installation: Installation) -> None:
    assert installation.cli("customers", "set", "Ann@Example.org", "premium", "--name",
                            "Ann", "--account-manager", "am@healthsync.com"
                            ).stdout == "ann@example.org: premium\n"
    installation.cli("customers", "set", "ann@example.org", "enterprise")
    assert listed(installation) == [{"email": "ann@example.org", "tier": "enterprise",
                                     "name": "Ann", "account_manager": "am@healthsync.com"}]
    bad = installation.cli("customers", "set", "ann@example.org", "gold", check=False)
    assert bad.returncode == 2 and "unknown tier 'gold'" in bad.stderr
    assert installation.cli("customers", "remove", "ANN@example.org").returncode == 0
    gone = installation.cli("customers", "remove", "ann@example.org", check=False)
    assert gone.returncode == 1 and "not in the customer directory" in gone.stderr
    assert listed(installation) == []


def test_a_large_file_imports_with_plain_progress_lines(
        installation: Installation) -> None:
    rows = (f"user{i}@example.org,{('free', 'plus', 'premium')[i % 3]},User {i},\n"
            for i in range(100_000))
    result = import_(installation, HEADER + "".join(rows))
    assert result.returncode == 0, result.stderr
    assert "maildaemon: 100000 rows read" in result.stderr.splitlines()
    assert "\r" not in result.stderr  # no bar where no terminal
    assert len(listed(installation)) == 100_000


def test_a_terminal_gets_a_progress_bar(installation: Installation) -> None:
    path = installation.tmp / "customers.csv"
    path.write_text(HEADER + "ann@example.org,plus,,\n")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "maildaemon", "--config", str(installation.config),
             "customers", "import", str(path)],
            stdout=subprocess.PIPE, stderr=follower, timeout=60, check=False)
        os.close(follower)
        follower = -1
        drawn = read_all(leader)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert "100%|" in drawn and "1/1" in drawn


def read_all(fd: int) -> str:
    chunks = []
    for _ in range(1000):  # bounded: the child has exited, what it wrote is buffered
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
