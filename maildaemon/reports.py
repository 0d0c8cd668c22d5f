"""Machine reports inside a message, read from its MIME structure (parse.py calls this).

- Delivery status notifications (RFC 3464, `message/delivery-status`, and RFC 6533's
  `message/global-delivery-status`): each recipient's Final-Recipient, Original-Recipient,
  Action, Status and Diagnostic-Code, read with the standard library (it parses the part
  into its header blocks).
- Failure notices in no standard format (Exim, qmail, Exchange 2003, Domino, Notes ...),
  only from a mailer daemon or a null sender: the failed addresses as GNU Mailman's bounce
  detectors find them (flufl.bounce), the status code from the notice's own text.
- Feedback reports (ARF) and read receipts (MDN): their kind, nothing more is needed.

Each gives the Message-IDs of the message it reports on, from the headers it returns
(`message/rfc822`, `text/rfc822-headers`, or quoted as text), so the bounce can be matched
to our mail (context.py). Nothing here raises: a report we cannot read is no report.
"""

from __future__ import annotations

import contextlib
import logging
import re
from email.message import Message
from email.parser import HeaderParser

from flufl.bounce import all_failures

from maildaemon.domain import DeliveryReport, FailedRecipient

# flufl.bounce logs each detector it runs at INFO; the worker's log is ours.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
REPORTS = {"feedback-report": "feedback-report", "disposition-notification":
           "disposition-notification", "global-disposition-notification":
           "disposition-notification"}
RETURNED = ("message/rfc822", "message/global", "text/rfc822-headers",
            "message/global-headers")
ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
SMTP_CODE = re.compile(r"(?:^|\s)([45])\d\d[\s-]", re.MULTILINE)
MESSAGE_ID_LINE = re.compile(r"^\s*>?\s*message-id:\s*(<[^<>\s]{1,500}>)",
                             re.IGNORECASE | re.MULTILINE)
DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
MAX_PARTS = 200  # a report is a handful of parts; a deeper tree is read this far
MAX_RECIPIENTS = 50
MAX_TEXT = 64 * 1024  # of a failure notice's text, for its status code and returned ids
MAX_HEURISTIC = 512 * 1024  # flufl.bounce's patterns on larger mail cost seconds
DIAGNOSTIC = 300


def read_report(msg: Message, raw_size: int, envelope_sender: str | None,
                from_addr: str) -> DeliveryReport | None:
    try:
        return _read(msg, raw_size, envelope_sender, from_addr)
    except Exception:  # a malformed report is no report; the mail is still automatic
        return None


def _read(msg: Message, raw_size: int, envelope_sender: str | None,
          from_addr: str) -> DeliveryReport | None:
    parts = _parts(msg)
    types = [p.get_content_type() for p in parts]
    report_type = (msg.get_param("report-type", "", header="content-type") or "")
    report_type = str(report_type).lower() if msg.get_content_type() == \
        "multipart/report" else ""
    if any(t in STATUS_PARTS for t in types) or report_type == "delivery-status":
        failures = tuple(f for p in parts if p.get_content_type() in STATUS_PARTS
                         for f in _status_blocks(p))
        if not failures:  # a report its MTA broke (a lost boundary, base64 inside it)
            failures = _notice_failures(msg, parts, raw_size)
        return DeliveryReport("delivery-status", failures[:MAX_RECIPIENTS],
                              _returned_ids(parts))
    for part_type in types:
        kind = REPORTS.get(part_type.partition("/")[2])
        if part_type.startswith("message/") and kind:
            return DeliveryReport(kind, (), _returned_ids(parts))
    if report_type in REPORTS:
        return DeliveryReport(REPORTS[report_type], (), _returned_ids(parts))
    if not _from_a_daemon(envelope_sender, from_addr) and "x-failed-recipients" not in msg:
        return None
    failures = _notice_failures(msg, parts, raw_size)
    if not failures:
        return None
    return DeliveryReport("bounce", failures, _returned_ids(parts))


def _parts(msg: Message) -> list[Message]:
    found: list[Message] = []
    for part in msg.walk():  # bounded below
        found.append(part)
        if len(found) >= MAX_PARTS:
            break
    return found


def _status_blocks(part: Message) -> list[FailedRecipient]:
    """The per-recipient blocks of one delivery-status part (the first block is about
    the message: Reporting-MTA, Arrival-Date)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [b for b in payload if isinstance(b, Message)]
        for block in list(blocks):  # a block that is itself encoded (Postfix via Exchange)
            if block.get("content-transfer-encoding") and not block.is_multipart():
                blocks.extend(_blocks_of(block))
    else:  # encoded, or not split by the parser: read its blocks ourselves
        blocks = _blocks_of(part)
    failures: list[FailedRecipient] = []
    for block in blocks:
        final = _recipient(block.get("final-recipient"))
        if not final:
            continue
        status = _status(str(block.get("status") or ""), str(block.get("action") or ""),
                         str(block.get("diagnostic-code") or ""))
        if status:
            failures.append(FailedRecipient(
                final, status, _recipient(block.get("original-recipient")),
                _one_line(str(block.get("diagnostic-code") or ""))))
    return failures


def _blocks_of(part: Message) -> list[Message]:
    text = part.get_payload(decode=True)
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) \
        else str(part.get_payload())
    return [HeaderParser().parsestr(block.strip() + "\n")
            for block in re.split(r"\r?\n\s*\r?\n", body[:MAX_TEXT]) if block.strip()]


def _recipient(value: object) -> str:
    """`rfc822; alice@example.org` (or `<alice@example.org>`, as some MTAs write it)."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    address = text.partition(";")[2] if ";" in text else text
    address = address.strip().strip("<>").strip()
    return address.lower() if "@" in address and " " not in address else ""


def _status(status: str, action: str, diagnostic: str) -> str:
    """The enhanced status code of a failed or delayed delivery; "" for a delivered,
    relayed or expanded one, which is no failure."""
    action = action.strip().lower()
    if action.startswith(("delivered", "relayed", "expanded")):
        return ""
    for text in (status, diagnostic):
        code = ENHANCED.search(text)
        if code and code.group(1) in "45":
            return code.group(0)
    if action.startswith("delayed"):
        return "4.0.0"
    if action.startswith(("failed", "error")):
        smtp = SMTP_CODE.search(" " + diagnostic + " ")
        return f"{smtp.group(1)}.0.0" if smtp else "5.0.0"
    return ""


def _from_a_daemon(envelope_sender: str | None, from_addr: str) -> bool:
    if envelope_sender is not None and not envelope_sender.strip().strip("<>"):
        return True
    return from_addr.lower().rpartition("@")[0] in DAEMONS


def _notice_failures(msg: Message, parts: list[Message],
                     raw_size: int) -> tuple[FailedRecipient, ...]:
    """A failure notice without a report: its addresses by flufl.bounce's detectors, or
    by Exim's X-Failed-Recipients; the first status code its text gives, else the class
    the detector found (permanent or delayed)."""
    temporary: frozenset[bytes] = frozenset()
    permanent: frozenset[bytes] = frozenset()
    if raw_size <= MAX_HEURISTIC:
        # Its detectors trip over odd headers (an 8-bit From): then we have none.
        with contextlib.suppress(Exception):
            temporary, permanent = all_failures(msg)
    addresses = {_decoded(a): "5" for a in permanent}
    addresses.update({_decoded(a): "4" for a in temporary if _decoded(a) not in addresses})
    for address in str(msg.get("x-failed-recipients") or "").split(","):
        address = address.strip().strip("<>").lower()
        if "@" in address:
            addresses.setdefault(address, "5")
    text = _notice_text(parts)
    code = ENHANCED.search(text)
    failures = []
    for address, klass in sorted(addresses.items())[:MAX_RECIPIENTS]:
        if "@" not in address or not address.isprintable() or " " in address:
            continue
        status = code.group(0) if code and code.group(1) == klass else f"{klass}.0.0"
        failures.append(FailedRecipient(address, status, "", _diagnostic(text, address)))
    return tuple(failures)


def _decoded(address: bytes) -> str:
    return address.decode("ascii", "replace").strip().strip("<>").lower()


def _notice_text(parts: list[Message]) -> str:
    for part in parts:
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload[:MAX_TEXT].decode("utf-8", "replace")
    return ""


def _diagnostic(text: str, address: str) -> str:
    """The line of the notice that names the address and says why, when there is one."""
    for line in text.splitlines():
        if address in line.lower() and (ENHANCED.search(line) or SMTP_CODE.search(line)):
            return _one_line(line)
    return ""


def _returned_ids(parts: list[Message]) -> tuple[str, ...]:
    """Message-IDs of the returned message: its headers as a part, else quoted as text."""
    ids: list[str] = []
    for part in parts:
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner, Message) and inner.get("message-id"):
                ids.append(str(inner.get("message-id")))
        elif ctype in RETURNED:
            payload = part.get_payload(decode=True)
            text = payload[:MAX_TEXT].decode("utf-8", "replace") \
                if isinstance(payload, bytes) else ""
            headers = HeaderParser().parsestr(text.lstrip())
            if headers.get("message-id"):
                ids.append(str(headers.get("message-id")))
    if not ids:
        ids = MESSAGE_ID_LINE.findall(_notice_text(parts))
    found = (re.search(r"<[^<>\s]{1,500}>", " ".join(i.split())) for i in ids)
    return tuple(dict.fromkeys(m.group(0) for m in found if m))[:10]


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= DIAGNOSTIC else line[:DIAGNOSTIC - 1] + "…"
