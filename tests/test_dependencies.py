"""Every dependency pyproject.toml declares is used: a declared package is a promise to readers.

mail-parser stayed declared while nothing imported it and the README presented it
as in use. An installed but unused package costs install time and attack surface, and
misleads whoever reads the package list to learn how the daemon parses mail.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# Distributions whose import name is not their name with "-" as "_".
IMPORT_NAMES = {
    "python-magic": "magic",
    "mail-parser": "mailparser",
    "sqlite-utils": "sqlite_utils",
    "pyyaml": "yaml",
    "flufl.bounce": "flufl",  # a namespace package
    "python-multipart": "python_multipart",
}
# Test extras that are programs the Makefile runs, never imported.
TOOLS = {"ruff", "mypy"}
# pytest plugins: used through a flag of `make test`, imported by pytest itself.
PLUGINS = {"pytest-xdist": "-n 2"}


def distribution(requirement: str) -> str:
    """`"aiosmtpd>=1.4.4,<1.5"` -> `aiosmtpd`; names compare lower-case, as pip does."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return match.group(0).lower()


def import_name(requirement: str) -> str:
    name = distribution(requirement)
    return IMPORT_NAMES.get(name, name.replace("-", "_"))


def imported_modules(folder: Path) -> set[str]:
    """Top-level names of every absolute import in the folder's Python files, at any depth."""
    found: set[str] = set()
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def unused(requirements: list[str], folder: Path) -> list[str]:
    imported = imported_modules(folder)
    return [r for r in requirements if import_name(r) not in imported]


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    assert unused(PROJECT["dependencies"], ROOT / "maildaemon") == []


def test_every_test_library_is_imported_by_the_tests() -> None:
    libraries = [r for r in PROJECT["optional-dependencies"]["test"]
                 if distribution(r) not in TOOLS | PLUGINS.keys()]
    assert unused(libraries, ROOT / "tests") == []


def test_every_test_tool_is_run_by_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    declared = {distribution(r) for r in PROJECT["optional-dependencies"]["test"]}
    assert TOOLS.issubset(declared)
    for tool in TOOLS:
        assert f"$(BIN)/{tool} " in makefile, tool


def test_every_pytest_plugin_is_used_by_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    declared = {distribution(r) for r in PROJECT["optional-dependencies"]["test"]}
    for plugin, flag in PLUGINS.items():
        assert plugin in declared, plugin
        assert f"$(BIN)/pytest {flag}" in makefile, plugin


def test_the_check_finds_a_declared_package_nothing_imports() -> None:
    """The check can fail: mail-parser, removed for exactly this, would be reported."""
    declared = ["mail-parser>=4.0", "jinja2>=3.1", "python-magic>=0.4.27"]
    assert unused(declared, ROOT / "maildaemon") == ["mail-parser>=4.0"]
