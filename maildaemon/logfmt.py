"""Log lines as `key=value` pairs, one line per event, on stderr.

    ts=2026-11-28T10:00:00.123Z level=info logger=maildaemon.worker msg="spool ... new_ticket"
      spool=20261128100000A1B2C3D4E5 message_id=<a1@example.org> ticket=HS-123456

(one line; wrapped here.)
Why this shape: a line is both readable and machine-parsable (logfmt, as Loki, Vector and
`journalctl -o cat | grep ticket=HS-123456` read it). A value with a space, a `=`, a quote or
a backslash is quoted; inside quotes `\\` and `"` are escaped, and CR, LF, tabs and every
other control character (C0, DEL, C1, U+2028/9) are written as escapes, so no value, however
hostile (a Message-ID, a subject in an error), can start a forged line or a terminal escape.
A traceback is one `exc="..."` value on the same line.

Under systemd (stderr is the journal: $JOURNAL_STREAM names stderr's device and inode, as
systemd.exec(5) documents) there is no `ts=`, since the journal stamps every line, and each
line starts with the syslog priority in angle brackets (`<6>` info, `<4>` warning, `<3>`
error), which journald turns into the entry's PRIORITY, so `journalctl -p warning` works.

The message a line is about: the worker (and anything else that handles one message at a
time) wraps that work in `about(spool=..., message_id=..., ticket=...)`; the formatter adds
those fields to every line logged inside, so the existing log calls need no change. A
contextvar, so each thread (worker, sender, sweep) and each asyncio task has its own.

Never logged: a body, an attachment, a password. The log calls pass only identifiers,
addresses and error texts; tests/test_observe_logs.py sends a mail with a password and a card
number and greps the whole log for them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar

# The fields of the message being handled; added to each line in this order.
MESSAGE_FIELDS = ("spool", "message_id", "ticket")
CURRENT: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("maildaemon_log_about",
                                                              default=())
# syslog priorities (sd-daemon(3)): what journald reads from a line's "<N>" prefix.
PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
              logging.CRITICAL: 2}
NEEDS_QUOTES = re.compile(r'[\s="\\\x00-\x1f\x7f-\x9f\u2028\u2029]')
ESCAPED = re.compile(r'["\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]')
SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    return SHORT_ESCAPES.get(char) or repr(char)[1:-1]


def value(text: str) -> str:
    """`text` as a logfmt value: bare when it can be, else quoted with escapes."""
    if text and not NEEDS_QUOTES.search(text):
        return ESCAPED.sub(_escape, text)  # only lone surrogates can still need it
    return '"' + ESCAPED.sub(_escape, text) + '"'


@contextlib.contextmanager
def about(**fields: str | None) -> Iterator[None]:
    """Every line logged inside names this message (empty values are left out; fields
    given again replace the outer ones, e.g. the ticket once it is known)."""
    given = {k: v for k, v in fields.items() if v}
    merged = tuple((k, v) for k, v in CURRENT.get() if k not in given) + tuple(given.items())
    token = CURRENT.set(merged)
    try:
        yield
    finally:
        CURRENT.reset(token)


def note(**fields: str | None) -> None:
    """Add fields for the rest of the enclosing `about()` block (the Message-ID once the
    message is parsed): that block's end restores what was before it."""
    given = {k: v for k, v in fields.items() if v}
    CURRENT.set(tuple((k, v) for k, v in CURRENT.get() if k not in given)
                + tuple(given.items()))


class LogfmtFormatter(logging.Formatter):
    def __init__(self, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        parts = [] if self.journal else [f"ts={self._stamp(record)}"]
        parts += [f"level={record.levelname.lower()}", f"logger={value(record.name)}",
                  f"msg={value(record.getMessage())}"]
        fields = dict(CURRENT.get())
        for key in MESSAGE_FIELDS:  # also as `extra=` of one call
            extra = getattr(record, key, None)
            if isinstance(extra, str) and extra:
                fields[key] = extra
        parts += [f"{key}={value(text)}" for key, text in fields.items()]
        if record.exc_info:
            parts.append(f"exc={value(self.formatException(record.exc_info))}")
        line = " ".join(parts)
        if self.journal:
            return f"<{PRIORITIES.get(record.levelno, 6)}>{line}"
        return line

    @staticmethod
    def _stamp(record: logging.LogRecord) -> str:
        """UTC, ISO-8601, to the millisecond."""
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + \
            f".{int(record.msecs):03d}Z"


def stderr_is_journal() -> bool:
    try:
        device, inode = os.environ.get("JOURNAL_STREAM", "").split(":")
        info = os.fstat(sys.stderr.fileno())
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (ValueError, OSError):
        return False


def setup_logging(command: str | None) -> None:
    """One line per event on stderr: INFO and up for the daemon's processes, warnings and
    errors for the commands (whose results go to stdout)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter(journal=stderr_is_journal()))
    logging.basicConfig(
        level=logging.INFO if command in ("serve", "worker", "portal") else logging.WARNING,
        handlers=[handler], force=True,
    )
    # aiosmtpd logs every SMTP command at INFO, APScheduler every job run: keep ops logs ours.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("uvicorn").setLevel(logging.WARNING)  # its start banner, the portal's
