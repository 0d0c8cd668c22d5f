"""Reading the customer directory's CSV (`maildaemon customers import`), row by row.

The file streams: one row in memory at a time, so 100,000 rows cost no more memory than
ten. Every row is either a `CustomerChange` or a `BadRow` naming its line and why, so a
file with a few bad rows still imports the good ones.

What is accepted, and why:
- a header row naming the columns, in any order, any case: `email` and `tier` required,
  `name` and `account_manager` optional. A column the header lacks leaves what the
  directory has; an empty cell sets it empty (an empty `account_manager` removes it).
  An unknown column refuses the whole file: a misspelt `acount_manager` would otherwise
  be ignored in silence.
- comma- or semicolon-separated, decided by the header row (Excel writes `;` where the
  decimal mark is a comma); quoted cells as Excel and every CSV library write them.
- UTF-8, with or without Excel's byte-order mark. A row that is not UTF-8 (a Latin-1
  export) is a bad row, not a crash: bytes are read with surrogateescape and a cell still
  holding one is refused.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from maildaemon.domain import CustomerChange, Tier
from maildaemon.policy.mailbox import mailbox_problem

COLUMNS = ("email", "tier", "name", "account_manager")
REQUIRED = ("email", "tier")
TIERS = ", ".join(t.value for t in Tier)
MAX_NAME_CHARS = 200
UNDECODABLE = re.compile("[\udc80-\udcff]")  # surrogateescape's stand-ins for bad bytes


class CsvError(Exception):
    """The file as a whole cannot be read as a customer list (no header, unknown column)."""


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


def change_of(email: str, tier: str, name: str | None,
              account_manager: str | None) -> CustomerChange | str:
    """The change a row or `customers set` asks for, or why it is refused, in words."""
    email = email.strip().lower()
    if not email:
        return "missing email"
    problem = mailbox_problem(email)
    if problem:
        return problem
    try:
        known = Tier(tier.strip().lower())
    except ValueError:
        return f"unknown tier {tier.strip()!r} (one of {TIERS})" if tier.strip() \
            else f"missing tier (one of {TIERS})"
    name = name.strip() if name is not None else None
    if name is not None and (len(name) > MAX_NAME_CHARS or not name.isprintable()):
        return f"name longer than {MAX_NAME_CHARS} characters or not printable: {name[:40]!r}"
    manager = account_manager.strip() if account_manager is not None else None
    if manager:
        problem = mailbox_problem(manager)
        if problem:
            return f"account_manager: {problem}"
    return CustomerChange(email=email, tier=known, name=name, account_manager=manager)


def header_of(first_line: str) -> tuple[str, list[str]]:
    """The delimiter and the column names of the header row; raises `CsvError`."""
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    names = [n.strip().lower() for n in next(csv.reader([first_line], delimiter=delimiter))]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown or len(set(names)) != len(names):
        raise CsvError(f"line 1: unknown or repeated column {(unknown or names)[0]!r} "
                       f"(the header names {','.join(COLUMNS)})")
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise CsvError(f"line 1: the header has no {missing[0]!r} column "
                       f"(it names {','.join(COLUMNS)}; name and account_manager optional)")
    return delimiter, names


def read_changes(handle: TextIO) -> Iterator[CustomerChange | BadRow]:
    """Every row after the header, in order. `handle` is text opened with
    `encoding="utf-8-sig", errors="surrogateescape", newline=""`."""
    first = handle.readline()
    if not first.strip():
        raise CsvError("line 1: no header row (email,tier,name,account_manager)")
    delimiter, names = header_of(first)
    reader = csv.reader(itertools.chain([first], handle), delimiter=delimiter)
    next(reader)  # the header, read again so that reader.line_num counts from line 1
    while True:  # bounded: each pass consumes at least one line of the file
        before = reader.line_num
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a NUL byte, a cell over the csv module's limit
            if reader.line_num == before:
                raise CsvError(f"line {before + 1}: {exc}") from exc
            yield BadRow(reader.line_num, f"not a CSV row: {exc}")
            continue
        if any(cell.strip() for cell in cells):  # blank lines are skipped silently
            yield row_change(reader.line_num, names, cells)


def row_change(line: int, names: list[str], cells: list[str]) -> CustomerChange | BadRow:
    if len(cells) > len(names):
        return BadRow(line, f"{len(cells)} cells, the header names {len(names)} columns")
    if any(UNDECODABLE.search(cell) for cell in cells):
        return BadRow(line, "not UTF-8 text (save the file as \"CSV UTF-8\")")
    row = dict(zip(names, cells, strict=False))
    change = change_of(row.get("email", ""), row.get("tier", ""),
                       row.get("name", "") if "name" in names else None,
                       row.get("account_manager", "") if "account_manager" in names else None)
    return change if isinstance(change, CustomerChange) else BadRow(line, change)
