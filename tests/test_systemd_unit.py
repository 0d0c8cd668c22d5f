"""The systemd unit as shipped passes `systemd-analyze verify` with no warning, and says how
a reload reaches the daemon.

verify checks every directive's name and value and that each command it would run exists
and is executable. The unit's commands live in /opt/maildaemon/.venv, which is not here,
so the check runs on a copy whose commands point at this interpreter; everything else is
the file as shipped. A control case shows that verify does report what it must (an
unknown directive, a missing command), so a clean run means something.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "config" / "maildaemon.service"
INSTALLED = "/opt/maildaemon/.venv/bin/maildaemon"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def verify(tmp_path: Path, text: str) -> str:
    """What verify prints about a copy of the unit named maildaemon.service."""
    unit = tmp_path / "maildaemon.service"
    unit.write_text(text)
    assert ANALYZE is not None
    result = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    return result.stdout + result.stderr


def runnable(text: str) -> str:
    """The unit with its commands pointing at files that exist here."""
    assert INSTALLED in text
    return text.replace(INSTALLED, sys.executable)


def directives(text: str, name: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines()
            if line.startswith(f"{name}=")]


@needs_analyze
def test_the_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    said = verify(tmp_path, runnable(UNIT.read_text()))
    assert "maildaemon.service" not in said, said


@needs_analyze
def test_verify_reports_a_bad_directive_and_a_missing_command(tmp_path: Path) -> None:
    text = runnable(UNIT.read_text())
    said = verify(tmp_path, text.replace("RestrictRealtime=yes", "RestrictRealtim=yes"))
    assert "RestrictRealtim" in said
    said = verify(tmp_path, UNIT.read_text())  # as shipped: /opt is not here
    assert INSTALLED in said and "not executable" in said


def test_reload_sends_sighup_to_the_main_process() -> None:
    text = UNIT.read_text()
    assert directives(text, "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert directives(text, "Type") == ["notify"]


def test_the_hardening_keeps_what_the_daemon_needs() -> None:
    """Port 25 (the one capability), the journal and sd_notify (AF_UNIX), the worker's
    nice() (in @system-service), and the state directory writable."""
    text = UNIT.read_text()
    assert directives(text, "CapabilityBoundingSet") == ["CAP_NET_BIND_SERVICE"]
    assert directives(text, "AmbientCapabilities") == ["CAP_NET_BIND_SERVICE"]
    assert set(directives(text, "RestrictAddressFamilies")[0].split()) == {
        "AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in directives(text, "SystemCallFilter")
    assert directives(text, "SystemCallErrorNumber") == ["EPERM"]
    assert directives(text, "ReadWritePaths") == ["/var/lib/maildaemon"]
    for name in ("ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                 "ProtectControlGroups", "ProtectClock", "ProtectHostname",
                 "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
                 "LockPersonality", "MemoryDenyWriteExecute", "PrivateDevices",
                 "NoNewPrivileges"):
        assert directives(text, name) == ["yes"], name
    assert not directives(text, "PrivateUsers")  # it would keep port 25 out of reach
