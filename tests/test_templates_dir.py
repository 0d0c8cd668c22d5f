"""`[templates] directory` and `maildaemon templates export`: the operator's templates
override the shipped ones file by file, check-config renders them and names the file of
an error, and export writes a starting set without ever overwriting one by accident."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from maildaemon.config import Config, config_from_dict, default_config_path
from maildaemon.render import TEMPLATES
from maildaemon.resources import shipped_dir
from maildaemon.templates_config import (
    TemplatesSection,
    environment_for,
    template_problems,
    unused_overrides,
)
from tests.conftest import ROOT, assert_check_config_refuses, check_config


def export(target: Path, *more: str) -> subprocess.CompletedProcess[str]:
    """As an operator runs it: no configuration needed (the default one is used)."""
    return subprocess.run([sys.executable, "-m", "maildaemon", "templates", "export",
                           str(target), *more], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def section(folder: Path) -> str:
    return f'[templates]\ndirectory = "{folder}"\n'


def with_data(tmp: Path, text: str) -> str:
    return f'[storage]\ndata_dir = "{tmp / "data"}"\n{text}'


def test_export_then_check_config_passes(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    result = export(folder)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(f"{n}.{e}" for n in TEMPLATES for e in ("txt", "html"))
    assert (folder / "ack.txt").read_bytes() == (shipped_dir("templates") / "ack.txt"
                                                 ).read_bytes()
    assert (folder / "ack.txt").stat().st_mode & 0o777 == 0o644  # the service user reads it
    checked = check_config(tmp_path, with_data(tmp_path, section(folder)))
    assert checked.returncode == 0, checked.stderr
    assert "overrides no template" not in checked.stderr


def test_export_never_overwrites_without_force(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "ack.txt").write_text("Mine\n")
    refused = export(folder)
    assert refused.returncode == 2 and "ack.txt" in refused.stderr and "--force" in refused.stderr
    assert (folder / "ack.txt").read_text() == "Mine\n"
    assert sorted(p.name for p in folder.iterdir()) == ["ack.txt"]  # nothing written
    forced = export(folder, "--force")
    assert forced.returncode == 0 and (folder / "ack.txt").read_text() != "Mine\n"
    (tmp_path / "a-file").write_text("")
    assert export(tmp_path / "a-file").returncode == 2


BROKEN = [
    ("ack.txt", "Hello {{ number }\n", "TemplateSyntaxError"),
    ("closed.html", "<p>{% if %}</p>\n", "TemplateSyntaxError"),
    ("reminder.txt", "Hello {{ no_such_value }}\n", "UndefinedError"),
    ("team_digest.html", "{% for t in overdue %}{{ t.nope.deeper }}{% endfor %}\n",
     "UndefinedError"),
]


@pytest.mark.parametrize(("name", "text", "error"), BROKEN)
def test_check_config_names_the_broken_override(tmp_path: Path, name: str, text: str,
                                                error: str) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / name).write_text(text)
    result = check_config(tmp_path, with_data(tmp_path, section(folder)))
    assert result.returncode == 78, result.stdout + result.stderr
    assert f"{folder / name} line 1" in result.stderr and error in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_directory_is_refused_naming_the_key(tmp_path: Path) -> None:
    assert_check_config_refuses(tmp_path, section(tmp_path / "nope"), "templates.directory")


def test_a_file_that_is_no_template_is_warned_of(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "ack.text").write_text("typo\n")
    result = check_config(tmp_path, with_data(tmp_path, section(folder)))
    assert result.returncode == 0
    assert "ack.text overrides no template" in result.stderr
    assert unused_overrides(TemplatesSection(str(folder))) == ["ack.text"]


def test_an_override_wins_and_a_missing_one_falls_back(tmp_path: Path) -> None:
    (tmp_path / "ack.txt").write_text("Ours: {{ number }}\n")
    env = environment_for(TemplatesSection(str(tmp_path)))
    assert env.get_template("ack.txt").render(number="HS-000001") == "Ours: HS-000001\n"
    shipped = (shipped_dir("templates") / "ack.html").read_text()
    assert env.get_template("ack.html").filename == str(shipped_dir("templates") / "ack.html")
    assert "{{ number }}" in shipped
    config = config_from_dict({"templates": {"directory": str(tmp_path)}})
    assert template_problems(config) == []


def test_a_relative_directory_resolves_against_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "ack.txt").write_text("Relative\n")
    monkeypatch.chdir(tmp_path)
    config = config_from_dict({"templates": {"directory": "mine"}})
    assert environment_for(config.templates).get_template("ack.txt").render() == "Relative\n"


def test_the_shipped_file_and_the_default_agree() -> None:
    shipped = tomllib.loads(default_config_path().read_text())
    assert shipped["templates"] == {"directory": Config().templates.directory} == {
        "directory": ""}
