"""The documentation points only at files that are in the repository.

The README once cited design notes that never shipped with it; a newcomer following such a
reference finds nothing. Checked: every relative Markdown link (and its `#anchor`, against
the headings of the file it names), and every backticked path whose first directory is one
of the repository's own (`tests/...`, `docs/...`, `maildaemon/...`), in README.md,
docs/*.md and bench/README.md. Paths of a running installation (`var/outbound/new/`,
`data_dir/secret.key`, `/etc/postfix/...`) are not the repository's and are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "bench" / "README.md"]
# Named in the documents, present only where they say: not in a checkout.
ELSEWHERE = {
    "maildaemon/_shipped/": "inside the built wheel (pyproject.toml force-include)",
    "bench/.venv-helpdesk": "made by the first `make bench`, to run django-helpdesk",
}
# Entries of the checkout that are made by running it, not part of the repository.
GENERATED = {".venv", "var", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"}

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\s]+)`")
MARKDOWN_NAME = re.compile(r"(?<![\w./-])([\w./-]+\.md)\b")


def prose(text: str) -> str:
    """The text outside fenced blocks: paths in shell examples are an installation's."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in prose(path.read_text()).splitlines()
            if line.startswith("#")}


def top_level() -> set[str]:
    return {p.name for p in ROOT.iterdir()} - GENERATED


def broken_links(text: str, folder: Path, document: Path) -> list[str]:
    """Relative links in `text` (of `document`, in `folder`) to no file or no heading."""
    broken = []
    for target in LINK.findall(prose(text)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        where = (folder / path).resolve() if path else document
        dead_anchor = bool(anchor) and where.suffix == ".md" and anchor not in anchors(where)
        if not where.exists() or dead_anchor:
            broken.append(target)
    return broken


def missing_paths(text: str) -> list[str]:
    """Backticked repository paths that match nothing (globs such as `auth_*.eml` allowed)."""
    roots = top_level()
    missing = []
    for token in CODE.findall(prose(text)):
        first = token.split("/")[0]
        if "/" not in token or first not in roots or token in ELSEWHERE:
            continue
        if not any(ROOT.glob(token.rstrip("/"))):
            missing.append(token)
    return missing


def missing_documents(text: str, folder: Path) -> list[str]:
    """Markdown files named in the text, linked or not, found neither beside it nor at the root.

    How the README cited design notes that live outside the repository: by bare name.
    """
    return [name for name in MARKDOWN_NAME.findall(prose(text))
            if not (folder / name).exists() and not (ROOT / name).exists()]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    assert broken_links(document.read_text(), document.parent, document) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_backticked_repository_paths_exist(document: Path) -> None:
    assert missing_paths(document.read_text()) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_markdown_files_exist(document: Path) -> None:
    assert missing_documents(document.read_text(), document.parent) == []


def test_the_checks_find_what_is_missing() -> None:
    """They can fail: a link to a file not in the repository, a dead anchor, a stale path."""
    text = ("See [the design](../DESIGN.md), [ops](../README.md#no-such-heading), "
            "[ok](../README.md#two-commands), `tests/test_gone.py`, `tests/test_*.py`, "
            "`var/outbound/new/` and `maildaemon/_shipped/`.\n"
            "```\ncat docs/not-checked.md [x](nothing.md)\n```\n")
    docs = ROOT / "docs"
    assert broken_links(text, docs, docs / "example.md") == [
        "../DESIGN.md", "../README.md#no-such-heading"]
    assert missing_paths(text) == ["tests/test_gone.py"]
    assert missing_documents(text + "As INTERFACE.md says, and CHANGELOG.md.", docs) == [
        "../DESIGN.md", "INTERFACE.md"]


def module_map() -> str:
    """The README's fenced block that starts `maildaemon/`: one line per module."""
    [block] = [b for b in FENCE.findall((ROOT / "README.md").read_text())
               if b.startswith("```\nmaildaemon/\n")]
    return block


def unmapped(block: str) -> list[str]:
    """Modules of the package the map does not name (by file name, as the map writes them)."""
    modules = sorted(p for p in (ROOT / "maildaemon").rglob("*.py")
                     if p.name not in {"__init__.py", "__main__.py"})
    return [str(p.relative_to(ROOT)) for p in modules
            if not re.search(rf"(?<![\w.]){re.escape(p.name)}\b", block)]


def test_the_module_map_names_every_module() -> None:
    assert unmapped(module_map()) == []


def test_the_module_map_check_finds_a_missing_module() -> None:
    block = module_map()
    assert "maildaemon/sweeps.py" not in unmapped(block)
    assert "maildaemon/sweeps.py" in unmapped(block.replace("sweeps.py", "sweeping"))
