"""Only the storage package talks to the database: nothing else imports sqlite3 or holds
SQL, so a second backend (PostgreSQL) replaces one package, not statements all over.

Allowed outside maildaemon/store/, each for a stated reason (the list may only shrink):
- schema.py: the migrations, the ticket database's history (schema.sql is its shape), the
  one SQL the issue leaves outside the package. Not moved in: the store package is being
  reshaped beside it, and the module is named by the store, tests and README for no gain
  at the boundary (a PostgreSQL backend brings its own migrations in its own module);
- sqlite.py: the SQLite connection itself (PRAGMAs, transactions, WAL checkpoints), shared
  by the store and the spool. Not moved in: the spool would then import the ticket store
  package (its models, policy, sqlite-utils) into the SMTP edge, and the per-node spool
  would depend on the ticket backend it is meant to outlive;
- spool.py: the SMTP edge's own durable queue, in its own file (spool.sqlite3), not part of
  the ticket store: a per-node local queue that stays on SQLite whatever backend holds the
  tickets (issue 15). It raises `SpoolBusy` for a lock held too long, so the edge retries
  on the spool's contract, not on SQLite's result codes.

Which database errors are faults of the environment (disk full, locked, I/O) the storage
backend says (store/errors.py); faults.py keeps only the operating system's errnos.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "maildaemon"
STORAGE = PACKAGE / "store"
ALLOWED_SQLITE = {"schema.py", "sqlite.py", "spool.py"}
ALLOWED_SQL = {"schema.py", "sqlite.py", "spool.py"}
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|PRAGMA|BEGIN|COMMIT|"
                 r"ROLLBACK|SAVEPOINT|RELEASE|WITH|REPLACE|EXPLAIN|VACUUM)\s", re.MULTILINE)
SQL_CLAUSE = re.compile(r"\b(FROM|WHERE|JOIN|VALUES|SET|ORDER BY|GROUP BY|LIMIT)\b")


def outside_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if STORAGE not in p.parents)


def sqlite_imports(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        lines += [node.lineno for name in names if name.split(".")[0] in ("sqlite3",
                                                                           "sqlite_utils")]
    return lines


def looks_like_sql(text: str) -> bool:
    """A statement: starts with a keyword, or is a clause of one ("... WHERE id = ?")."""
    return bool(SQL.search(text)) or len(SQL_CLAUSE.findall(text)) >= 2 or \
        bool(re.search(r"\bWHERE\b.*(\?|:\w)", text))


def sql_strings(tree: ast.AST) -> list[int]:
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and looks_like_sql(node.value)]


def test_the_checks_see_sql_and_sqlite_where_they_are() -> None:
    """The detectors themselves: they find what the store holds, and pass plain prose."""
    tree = ast.parse((STORAGE / "backlog.py").read_text())
    assert sql_strings(tree) and sqlite_imports(tree)
    assert looks_like_sql(" WHERE t.ticket_id = ? AND t.kind = 'message'")
    assert not looks_like_sql("Select the queue from the list where it applies.")
    assert not looks_like_sql("we did not hear from you for ")


def test_no_module_outside_the_store_imports_sqlite() -> None:
    found = [f"{p.relative_to(PACKAGE)}:{line}" for p in outside_modules()
             if p.name not in ALLOWED_SQLITE or p.parent != PACKAGE
             for line in sqlite_imports(ast.parse(p.read_text()))]
    assert not found, f"sqlite3 outside maildaemon/store/: {found}"


def test_no_module_outside_the_store_holds_sql() -> None:
    found = [f"{p.relative_to(PACKAGE)}:{line}" for p in outside_modules()
             if p.name not in ALLOWED_SQL or p.parent != PACKAGE
             for line in sql_strings(ast.parse(p.read_text()))]
    assert not found, f"SQL outside maildaemon/store/: {found}"


def test_one_function_writes_events() -> None:
    writers = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
               if "INSERT INTO events" in p.read_text()]
    assert writers == ["store/events.py"]


def test_the_store_never_renders() -> None:
    """apply() writes mail rendered before it: templates never run while rows are written."""
    for path in STORAGE.glob("*.py"):
        modules = {node.module for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.ImportFrom)}
        modules |= {alias.name for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.Import) for alias in node.names}
        assert not {"maildaemon.render", "maildaemon.mime", "jinja2"} & modules, path.name


def test_each_storage_module_imports_first() -> None:
    """Imported alone in a fresh interpreter, as a benchmark or a tool may: the migrations
    and the store import each other's parts, and a cycle would only show in this order."""
    modules = ["maildaemon.schema", "maildaemon.sqlite"] + [
        f"maildaemon.store.{p.stem}" for p in sorted(STORAGE.glob("*.py"))
        if p.stem != "__init__"]
    for module in modules:
        done = subprocess.run([sys.executable, "-c", f"import {module}"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"import {module}: {done.stderr[-400:]}"


def test_only_the_store_package_picks_the_backend() -> None:
    """Outside maildaemon/store/, stores come from backend.py's open_* functions, typed by
    the interfaces: no module names the SQLite classes, so a second backend is one branch
    in backend.py, not an edit in every command."""
    sqlite_classes = {"Store", "ReadOnlyStore", "Reads"}
    found = []
    for path in outside_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "maildaemon.store"):
                found += [f"{path.relative_to(PACKAGE)}:{node.lineno} {a.name}"
                          for a in node.names if a.name in sqlite_classes]
    assert not found, f"SQLite store classes outside maildaemon/store/: {found}"
