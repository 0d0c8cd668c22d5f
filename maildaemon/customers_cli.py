"""`maildaemon customers import|list|set|remove`: the customer directory (cli.py registers
it). The directory says each customer's tier; the worker reads the sender's entry for
every message (unknown senders are free).

`import` exits 0 when every row was imported, 1 when some were skipped (each reported on
stderr with its line number and reason; the good rows are imported all the same), 65 when
the file cannot be read as a customer list at all (no header, an unknown column).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from maildaemon.config import Config
from maildaemon.customer_csv import BadRow, CsvError, change_of, read_changes
from maildaemon.domain import CustomerChange, Tier
from maildaemon.store import CustomerDirectory, open_customers

EX_OK, EX_NOTFOUND, EX_USAGE, EX_DATAERR = 0, 1, 2, 65
BATCH = 10_000  # rows per transaction: ten commits for 100,000 rows
PLAIN_EVERY = 10_000  # without a terminal, one progress line per this many rows


def add_customers_parser(sub: Any) -> None:
    customers = sub.add_parser("customers", help="the customer directory (tiers)")
    commands = customers.add_subparsers(dest="customers_command", required=True)
    imports = commands.add_parser("import", help="add or update customers from a CSV file "
                                  "(columns email,tier,name,account_manager)")
    imports.add_argument("file", help="UTF-8 CSV with a header row; , or ; separated")
    listing = commands.add_parser("list", help="every customer, by address")
    listing.add_argument("--json", action="store_true")
    set_ = commands.add_parser("set", help="add or change one customer")
    set_.add_argument("email")
    set_.add_argument("tier", help=" | ".join(Tier))
    set_.add_argument("--name")
    set_.add_argument("--account-manager", metavar="ADDR",
                      help="their account manager's address (\"\" removes it)")
    remove = commands.add_parser("remove", help="take a customer out (they become free)")
    remove.add_argument("email")


def cmd_customers(config: Config, args: argparse.Namespace) -> int:
    directory = open_customers(config)
    try:
        match args.customers_command:
            case "import":
                return import_file(directory, Path(args.file))
            case "list":
                return list_customers(directory, args.json)
            case "set":
                return set_customer(directory, args)
            case _:
                return remove_customer(directory, args.email)
    finally:
        directory.close()


def import_file(directory: CustomerDirectory, path: Path) -> int:
    if not path.is_file():
        print(f"maildaemon: not a readable file: {path}", file=sys.stderr)
        return EX_USAGE
    on_terminal = sys.stderr.isatty()
    imported = skipped = 0
    try:
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            bar = tqdm(total=count_rows(path), unit=" rows", file=sys.stderr,
                       disable=not on_terminal)
            with bar:
                batch: list[CustomerChange] = []
                for count, row in enumerate(read_changes(handle), 1):
                    bar.update()
                    if isinstance(row, BadRow):
                        skipped += 1
                        report(f"{path.name}:{row.line}: skipped: {row.reason}", on_terminal)
                    else:
                        batch.append(row)
                    if len(batch) >= BATCH:
                        imported += directory.upsert_customers(batch, datetime.now(UTC))
                        batch = []
                    if not on_terminal and count % PLAIN_EVERY == 0:
                        print(f"maildaemon: {count} rows read", file=sys.stderr)
                imported += directory.upsert_customers(batch, datetime.now(UTC))
    except CsvError as exc:
        print(f"maildaemon: {path}: {exc}; nothing more imported", file=sys.stderr)
        return EX_DATAERR
    print(f"imported {imported} customers from {path.name}"
          + (f", {skipped} rows skipped" if skipped else ""))
    if skipped:
        print(f"maildaemon: {skipped} rows skipped (see above)", file=sys.stderr)
        return EX_NOTFOUND
    return EX_OK


def count_rows(path: Path) -> int:
    """Lines after the header, for the progress bar's total (a quick pass over the file)."""
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def report(line: str, on_terminal: bool) -> None:
    """A line on stderr that leaves the progress bar whole."""
    if on_terminal:
        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def list_customers(directory: CustomerDirectory, as_json: bool) -> int:
    customers = directory.customers()
    if as_json:
        print(json.dumps([asdict(c) for c in customers], ensure_ascii=False, indent=2))
        return EX_OK
    for line in table(asdict(c) for c in customers):
        print(line)
    return EX_OK


def table(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield (f"{row['email']:<40} {row['tier']:<10} {row['name'] or '-'}"
               + (f" (account manager {row['account_manager']})"
                  if row["account_manager"] else ""))


def set_customer(directory: CustomerDirectory, args: argparse.Namespace) -> int:
    change = change_of(args.email, args.tier, args.name, args.account_manager)
    if isinstance(change, str):
        print(f"maildaemon: customers set: {change}", file=sys.stderr)
        return EX_USAGE
    directory.upsert_customers([change], datetime.now(UTC))
    print(f"{change.email}: {change.tier.value}")
    return EX_OK


def remove_customer(directory: CustomerDirectory, email: str) -> int:
    if not directory.remove_customer(email.strip()):
        print(f"maildaemon: {email} is not in the customer directory", file=sys.stderr)
        return EX_NOTFOUND
    print(f"{email.strip().lower()}: removed (now free)")
    return EX_OK
