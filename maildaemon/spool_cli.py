"""`maildaemon spool show ID [--json]` and `spool purge ID [--yes]` (cli.py registers them
beside `spool ls` and `spool retry`).

`show` is what an operator needs to decide about a held message without opening its bytes:
the envelope, the state and the reason it is held, the attempts, every header decoded, the
MIME parts (type, file name, size) and the parser's defects (Python's `email` package:
those of the message and of each part and header, e.g. a multipart without its boundary).
Never the body: tickets hold health data. Header text is printed with control characters
escaped, so a hostile header cannot rewrite the operator's terminal.

`purge` takes an entry out of the queue for good, keeping its bytes under
`data_dir/purged/` (spool_admin.py). It asks first on a terminal; `--yes` skips the
question; without a terminal and without `--yes` it refuses (exit 2), so a script cannot
purge by accident. An unknown id exits 1, as `show` does for an unknown ticket; a claimed
entry (the worker is on it) exits 75: try again once it is done or held.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from email.message import Message
from email.parser import BytesParser
from email.policy import default
from typing import Any

from maildaemon.config import Config
from maildaemon.smtp_in import printable
from maildaemon.spool import Spool
from maildaemon.spool_admin import NotPurgeable, entry_detail, purge_entry

EX_OK, EX_NOTFOUND, EX_USAGE, EX_TEMPFAIL = 0, 1, 2, 75
log = logging.getLogger("maildaemon.spool")


def add_spool_commands(spool_sub: Any) -> None:
    show = spool_sub.add_parser("show", help="one entry: envelope, headers, state, defects")
    show.add_argument("spool_id")
    show.add_argument("--json", action="store_true")
    purge = spool_sub.add_parser("purge", help="take a held or pending entry out of the "
                                 "queue; its bytes are kept under data_dir/purged/")
    purge.add_argument("spool_id")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def cmd_spool_show(config: Config, args: argparse.Namespace) -> int:
    spool = Spool(config.data_dir, config.spool.max_attempts)
    try:
        entry = entry_detail(spool, args.spool_id)
    finally:
        spool.close()
    if entry is None:
        print(f"maildaemon: no spool entry {args.spool_id}", file=sys.stderr)
        return EX_NOTFOUND
    data: dict[str, Any] = {
        "spool_id": entry.spool_id, "state": entry.state, "received_at": entry.received_at,
        "mail_from": entry.mail_from, "rcpt_tos": list(entry.rcpt_tos), "peer": entry.peer,
        "size": entry.size, "sha256": entry.sha256, "attempts": entry.attempts,
        "error": entry.error, "owner": entry.owner, **anatomy(entry.raw)}
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return EX_OK
    print("\n".join(show_text(data)))
    return EX_OK


def anatomy(raw: bytes) -> dict[str, Any]:
    """Headers (decoded), MIME parts and parse defects of a message; never its body."""
    message = BytesParser(policy=default).parsebytes(raw)
    parts, defects = [], []
    for index, part in enumerate(message.walk()):
        where = "message" if index == 0 else f"part {index} ({part.get_content_type()})"
        defects += [_defect(where, d) for d in part.defects]
        for name, value in _headers(part):
            defects += [_defect(f"{where} header {name}", d)
                        for d in getattr(value, "defects", ())]
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            parts.append({"content_type": part.get_content_type(),
                          "filename": _filename(part),
                          "size": len(payload) if isinstance(payload, bytes) else 0})
    return {"headers": [[name, str(value)] for name, value in _headers(message)],
            "parts": parts, "defects": defects}


def _defect(where: str, defect: Exception) -> dict[str, str]:
    """Where, the defect's class name, and its text (else its class's one-line doc)."""
    doc = (type(defect).__doc__ or "").strip().splitlines()
    detail = str(defect) or (doc[0] if doc else "")
    return {"where": where, "defect": type(defect).__name__, "detail": detail}


def _headers(part: Message) -> list[tuple[str, Any]]:
    """(name, decoded value) of each header; the raw text where decoding fails."""
    found: list[tuple[str, Any]] = []
    for name, raw_value in part.raw_items():
        try:
            found.append((name, part.policy.header_fetch_parse(name, raw_value)))
        except Exception:  # the parser's own limits; what was sent is still worth showing
            found.append((name, raw_value))
    return found


def _filename(part: Message) -> str | None:
    try:
        return part.get_filename()
    except Exception:
        return None


def show_text(data: dict[str, Any]) -> list[str]:
    lines = [f"{data['spool_id']}  {data['state']}  received {data['received_at']}"
             f"  from peer {data['peer'] or '-'}",
             f"  MAIL FROM <{data['mail_from'] or ''}>",
             *[f"  RCPT TO <{rcpt}>" for rcpt in data["rcpt_tos"]],
             f"  {data['size']} bytes, sha256 {data['sha256']}, attempts {data['attempts']}"]
    if data["owner"]:
        lines.append(f"  claimed by {data['owner']}")
    if data["error"]:
        lines.append(f"  reason: {data['error']}")
    lines.append("headers:")
    lines += [f"  {name}: {printable(value)}" for name, value in data["headers"]]
    lines.append("parts:")
    lines += [f"  {p['content_type']}  {p['size']} bytes"
              + (f"  {printable(p['filename'])}" if p["filename"] else "")
              for p in data["parts"]]
    lines.append("defects:" if data["defects"] else "defects: none")
    lines += [f"  {d['where']}: {d['defect']}: {printable(d['detail'])}"
              for d in data["defects"]]
    return lines


def cmd_spool_purge(config: Config, args: argparse.Namespace) -> int:
    spool = Spool(config.data_dir, config.spool.max_attempts)
    try:
        entry = entry_detail(spool, args.spool_id)
        if entry is None:
            print(f"maildaemon: no spool entry {args.spool_id}", file=sys.stderr)
            return EX_NOTFOUND
        if not args.yes:
            if not sys.stdin.isatty():
                print("maildaemon: spool purge asks for confirmation and there is no "
                      "terminal to ask on; give --yes to purge without asking",
                      file=sys.stderr)
                return EX_USAGE
            print(f"{entry.spool_id}: {entry.state}, from <{entry.mail_from or ''}> to "
                  f"{', '.join(entry.rcpt_tos)}, {entry.size} bytes"
                  + (f"; {entry.error}" if entry.error else ""), file=sys.stderr)
            answer = input(f"Purge {entry.spool_id}? Its bytes are kept under "
                           f"{config.data_dir / 'purged'} [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("not purged", file=sys.stderr)
                return EX_USAGE
        try:
            kept = purge_entry(spool, config.data_dir, entry.spool_id)
        except NotPurgeable as exc:  # claimed by the worker: try again once it is done
            print(f"maildaemon: {exc}", file=sys.stderr)
            return EX_TEMPFAIL
    finally:
        spool.close()
    log.warning("spool entry %s (%s, %d bytes, %d attempts) purged by %s; bytes kept in %s",
                entry.spool_id, entry.state, entry.size, entry.attempts, _user(), kept)
    print(f"{entry.spool_id} purged; its bytes are in {kept}")
    return EX_OK


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container)
        return "an unknown user"


SPOOL_ACTIONS = {"show": cmd_spool_show, "purge": cmd_spool_purge}
