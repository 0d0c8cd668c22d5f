"""A help desk in one process for the SLA tests: the real worker on real SQLite files, the
real sweep, the commands' store, and a clock moved by hand (conftest's SettableClock).

Mail is written as clients write it (bytes with CRLF, a Message-ID, a Date) and goes
through the spool, the parser, the decision table and the store, as the daemon's does.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from maildaemon.config import Config, config_from_dict
from maildaemon.domain import CustomerChange, Priority, Tier
from maildaemon.policy.sla import Kind, SlaSettings
from maildaemon.render import Renderer
from maildaemon.sla_config import sla_settings
from maildaemon.spool import Incoming
from maildaemon.store import Store, TicketRecord
from maildaemon.sweeps import Sweeper
from maildaemon.worker import load_secret
from maildaemon.workproc import Parts, worker_parts
from tests.conftest import SettableClock

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday, inside business hours
MANAGERS = ("lead@healthsync.com", "head@healthsync.com")
AGENT = "sam@healthsync.com"


class Desk:
    def __init__(self, tmp: Path, managers: bool = True, extra: dict[str, Any] | None = None
                 ) -> None:
        raw: dict[str, Any] = {"storage": {"data_dir": str(tmp / "data")},
                               "outbound": {"maildir": str(tmp / "out")},
                               "teams": {"default": [AGENT]}, **(extra or {})}
        if managers:
            raw["managers"] = {"default": list(MANAGERS)}
        self.config: Config = config_from_dict(raw)
        self.clock = SettableClock(T0)
        self.parts: Parts = worker_parts(self.config, self.clock)
        self.store = Store(self.config.data_dir)
        self.sweeper = Sweeper(self.config, self.store,
                               Renderer(self.config.mail.domain,
                                        load_secret(self.config.data_dir)))
        self.sent = 0

    @property
    def sla(self) -> SlaSettings:
        return sla_settings(self.config)

    def close(self) -> None:
        self.store.close()
        self.parts.checkpointer.stop()

    def at(self, hours: float) -> datetime:
        self.clock.now = T0 + timedelta(hours=hours)
        return self.clock.now

    def customer(self, email: str, tier: Tier) -> None:
        self.store.upsert_customers([CustomerChange(email, tier)], T0)

    def deliver(self, raw: bytes, sender: str = "ann@example.org",
                rcpts: tuple[str, ...] = ("support@healthsync.com",)) -> str:
        self.parts.spool.put_many([Incoming(sender, rcpts, raw, "t")])
        [done] = self.parts.worker.process_batch()
        assert done.ticket, done
        return done.ticket

    def open(self, subject: str = "Export to PDF fails", sender: str = "ann@example.org",
             body: str = "The export stops at 50 %.") -> str:
        self.sent += 1
        return self.deliver(outlook(sender, subject, body, f"<{self.sent}.{sender}>"), sender)

    def command(self, *argv: str, hours: float | None = None) -> int:
        """A `maildaemon` command in this process, as of `hours` after T0 (else now)."""
        from maildaemon.cli import COMMANDS, build_parser
        when = self.clock.now if hours is None else self.at(hours)
        args = build_parser().parse_args([*argv, "--now", when.isoformat()])
        return COMMANDS[args.command](self.config, args)

    def sweep(self, hours: float) -> Counter[str]:
        return self.sweeper.run(self.at(hours))

    def ticket(self, number: str) -> TicketRecord:
        row = self.store.ticket(number)
        assert row is not None
        return row

    def shown(self, number: str) -> dict[str, Any]:
        from maildaemon.views import ticket_json
        row = self.store.reads.ticket_row(number)
        assert row is not None
        return json.loads(json.dumps(ticket_json(self.store.reads, row)))

    def alerts(self) -> list[dict[str, Any]]:
        return [r for r in self.store.reads.outbox_rows(True) if r["kind"] == "notify_sla_breach"]

    def breaches(self, number: str) -> list[str]:
        return [e["detail"] for e in self.shown(number)["events"] if e["type"] == "sla_breach"]

    def target(self, number: str, kind: Kind) -> str:
        row = self.ticket(number)
        return self.sla.target(kind, Priority(row.priority), Tier(row.tier)).words()


def outlook(sender: str, subject: str, body: str, message_id: str,
            extra: str = "") -> bytes:
    """A plain-text mail as Outlook for Windows sends it."""
    return (f"From: Ann Example <{sender}>\r\nTo: support@healthsync.com\r\n"
            f"Subject: {subject}\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
            f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
            "X-Mailer: Microsoft Outlook 16.0\r\n"
            f"{extra}\r\n{body}\r\n").encode()
