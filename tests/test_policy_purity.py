"""policy/ stays pure: it imports only the domain types and pure standard-library modules."""

from __future__ import annotations

import ast
from pathlib import Path

ALLOWED = {"__future__", "base64", "collections", "dataclasses", "datetime", "enum", "hashlib",
           "hmac", "ipaddress", "re", "typing", "maildaemon.domain"}
POLICY = Path(__file__).resolve().parent.parent / "maildaemon" / "policy"
FORBIDDEN_CALLS = {"open", "now", "utcnow", "time", "today", "sleep"}


def imported_modules(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_policy_imports_only_pure_modules() -> None:
    for path in POLICY.glob("*.py"):
        for module in imported_modules(ast.parse(path.read_text())):
            ok = module in ALLOWED or module.split(".")[0] in ALLOWED or \
                module.startswith("maildaemon.policy")
            assert ok, f"{path.name} imports {module}"


def test_policy_never_reads_the_clock_or_files() -> None:
    for path in POLICY.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                    getattr(node.func, "id", "")
                assert name not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {name}"
