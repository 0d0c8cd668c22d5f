"""The wheel carries templates/ and config/, so an installed daemon needs no checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_templates_and_config(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path),
         str(ROOT)],
        check=True, capture_output=True,
    )
    [wheel] = tmp_path.glob("maildaemon-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for kind in ("templates", "config"):
            for path in (ROOT / kind).iterdir():
                member = f"maildaemon/_shipped/{kind}/{path.name}"
                assert member in names, member
                assert archive.read(member) == path.read_bytes()
        assert "maildaemon/cli.py" in names
