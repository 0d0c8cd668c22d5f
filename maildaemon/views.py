"""Tickets as INTERFACE.md documents them: the `show --json` shape and its text form.

Typed against `TicketReads`, not a backend: any implementation's rows format the same."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from maildaemon.domain import BugReport
from maildaemon.policy.bugreport import ASKS, missing_fields
from maildaemon.store import Row, TicketReads

BUG_FIELDS = tuple(f.name for f in fields(BugReport))


def ticket_json(store: TicketReads, row: Row, full: bool = True) -> dict[str, Any]:
    ticket_id = row["id"]
    data: dict[str, Any] = {
        "number": row["number"],
        "status": row["status"],
        "priority": row["priority"],
        "queue": row["queue"],
        "requester": row["requester"],
        "participants": store.participants_of(ticket_id),
        "subject": row["subject"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "escalated": bool(row["escalated"]),
        "waiting_on_customer": bool(row["waiting_on_customer"]),
        "related": store.related_of(ticket_id),
        "first_response_due": row["first_response_due"],
        "assignee": row["assignee"],
        "rating": row["rating"],
        # The SLA (issue 12): the tier the ticket opened with, the resolution target's due
        # time (moved later by waits on the customer), and when each clock stopped.
        "tier": row["tier"],
        "resolution_due": row["resolution_due"],
        "first_response_at": row["first_response_at"],
        "resolved_at": row["resolved_at"],
        # Opened by a mail whose From address our MTA did not vouch for (issue 13).
        "unverified": bool(row["unverified"]),
        # Retention (m027): when the ticket's content was purged; its row is a tombstone.
        "purged_at": row["purged_at"],
    }
    # Bounces (issue 13): a participant marked undeliverable by a 5.x.x of our mail.
    failed = store.delivery_failures_of(ticket_id)
    data["delivery_failed"] = bool(failed)
    data["undeliverable"] = [{"address": f["address"], "status": f["status"],
                              "detail": f["detail"], "since": f["at"]} for f in failed]
    if full:
        files: dict[int, list[dict[str, Any]]] = {}
        for number, file in enumerate(store.attachments_of(ticket_id), start=1):
            files.setdefault(file["message_row"], []).append({
                "n": number, "filename": file["filename"],
                "content_type": file["content_type"], "size": file["size"],
                "sha256": file["sha256"], "inline": bool(file["inline"]),
                **({"mismatch": file["mismatch"]} if file["mismatch"] else {}),
            })
        refused: dict[int, list[dict[str, Any]]] = {}
        for gone in store.rejected_of(ticket_id):
            refused.setdefault(gone["message_row"], []).append({
                "filename": gone["filename"], "reason": gone["words"].partition(": ")[2],
                "content_type": gone["content_type"], "size": gone["size"],
            })
        data["messages"] = [
            _message_json(m, files.get(m["id"], []), refused.get(m["id"], []))
            for m in store.messages_of(ticket_id)
        ]
        data["events"] = [
            {"at": e["at"], "type": e["type"], "detail": e["detail"]}
            for e in store.events_of(ticket_id)
        ]
        data["bug_report"] = bug_report_json(store.bug_report_of(ticket_id))
    return data


def bug_report_json(row: Row | None) -> dict[str, Any] | None:
    """A bug ticket's fields (null where not given) and the required ones missing;
    None for a ticket that is not a bug report."""
    if row is None:
        return None
    report = BugReport(**{name: row[name] for name in BUG_FIELDS})
    return {**{name: getattr(report, name) or None for name in BUG_FIELDS},
            "missing": list(missing_fields(report))}


def _message_json(row: Row, files: list[dict[str, Any]],
                  refused: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "direction": row["direction"],
        "message_id": row["message_id"],
        "from": row["from_addr"],
        "to": json.loads(row["to_addrs"]),
        "cc": json.loads(row["cc_addrs"]),
        "subject": row["subject"],
        "date": row["date"],
        "text": row["text"],
        "own_text": row["own_text"] if row["own_text"] is not None else row["text"],
        "automated": row["automated"],
        "attachments": files,
        "rejected_attachments": refused,
    }


def ticket_text(data: dict[str, Any]) -> str:
    lines = [
        f"{data['number']}  {data['subject']}",
        f"  status {data['status']}, priority {data['priority']}, queue {data['queue']}",
        f"  requester {data['requester']}; participants {', '.join(data['participants'])}",
        f"  created {data['created_at']}, updated {data['updated_at']}",
        f"  tier {data['tier']}; assignee {data['assignee'] or 'nobody'}",
        f"  first response due {data['first_response_due'] or '-'}, "
        + (f"answered {data['first_response_at']}" if data["first_response_at"]
           else "not answered yet")
        + f"; resolution due {data['resolution_due'] or '-'}, "
        + (f"resolved {data['resolved_at']}" if data["resolved_at"] else "not resolved yet"),
    ]
    if data["related"]:
        lines.append(f"  related {', '.join(data['related'])}")
    if data.get("unverified"):
        lines.append("  UNVERIFIED: our MTA did not vouch for the sender's address (see the "
                     "sender_unverified event); confirm who wrote before sharing anything")
    if data.get("purged_at"):
        lines.append(f"  purged {data['purged_at']}: messages, files and events removed")
    for failed in data.get("undeliverable", []):
        lines.append(f"  delivery failed: {failed['address']} undeliverable since "
                     f"{failed['since']} ({failed['detail']})")
    if data.get("bug_report"):
        lines.extend(_bug_report_text(data["bug_report"]))
    for message in data.get("messages", []):
        arrow = "<-" if message["direction"] == "inbound" else "->"
        flag = f" [automatic: {message['automated']}]" if message["automated"] else ""
        lines.append("")
        lines.append(f"{arrow} {message['date']} {message['from']}: {message['subject']}{flag}")
        lines.extend("   " + line for line in message["text"].splitlines()[:40])
        for file in message["attachments"]:
            lines.append(f"   [{file['n']}] {file['filename']} ({file['content_type']}, "
                         f"{file['size']} bytes{', inline' if file['inline'] else ''})")
        for file in message["rejected_attachments"]:
            lines.append(f"   [refused] {file['filename']}: {file['reason']}")
    if data.get("events"):
        lines.append("")
        lines.append("events:")
        for event in data["events"]:
            lines.append(f"  {event['at']} {event['type']}: {event['detail']}")
    return "\n".join(lines)


def _bug_report_text(report: dict[str, Any]) -> list[str]:
    given = [f"{name.replace('_', ' ')} {report[name]}" for name in BUG_FIELDS
             if name != "steps" and report[name]]
    missing = [ASKS[name][0].lower() for name in report["missing"]]
    lines = [f"  bug report: {'; '.join(given) or 'no fields given'}"
             + (f"; missing {', '.join(missing)}" if missing else "")]
    if report["steps"]:
        lines.append("  steps to reproduce:")
        lines.extend(f"    {line}" for line in report["steps"].splitlines())
    return lines
