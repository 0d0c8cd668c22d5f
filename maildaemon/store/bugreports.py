"""Bug reports (m021): the template's fields found in a bug ticket's mail, one row per bug
ticket. A new ticket writes its report; a customer's follow-up fills the fields the row
still lacks and never overwrites one given before. `show` reads the row by ticket id.
"""

from __future__ import annotations

from maildaemon.domain import BugReport
from maildaemon.store.db import Db, Row

FIELDS = ("steps", "browser", "device", "os", "app_version")

# A field already given keeps its value; an empty one takes the new value.
FILL = (
    "INSERT INTO bug_reports (ticket_id, steps, browser, device, os, app_version,"
    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id) DO UPDATE SET "
    + ", ".join(f"{name} = CASE WHEN bug_reports.{name} = '' THEN excluded.{name}"
                f" ELSE bug_reports.{name} END" for name in FIELDS)
    + ", updated_at = excluded.updated_at"
)


def report_of(conn: Db, ticket_id: int) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT * FROM bug_reports WHERE ticket_id = ?", (ticket_id,)).fetchone()
    return row


def write_report(conn: Db, ticket_id: int, report: BugReport,
                 stamp: str, new: bool) -> list[str]:
    """Stores a new ticket's report, or fills the missing fields of the one a ticket has
    (a row is made for a bug ticket without one); for a follow-up, the names of the
    fields that were empty and are given now (nothing written when there are none)."""
    if new:
        conn.execute(FILL, (ticket_id, *(getattr(report, name) for name in FIELDS), stamp))
        return []
    before = report_of(conn, ticket_id)
    given = [name for name in FIELDS if getattr(report, name)
             and (before is None or not before[name])]
    if given:
        conn.execute(FILL, (ticket_id, *(getattr(report, name) for name in FIELDS), stamp))
    return given


def filled_detail(report: BugReport, names: list[str]) -> str:
    """The event of a follow-up that gave missing fields: "app_version 3.2.0, os ..."."""
    return ", ".join(f"{name} {getattr(report, name).splitlines()[0][:100]}"
                     + (" ..." if "\n" in getattr(report, name) else "") for name in names)
