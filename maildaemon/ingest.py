"""`maildaemon ingest`: message files through the same spool, worker and sender as SMTP.

Many files are taken in chunks, as a pipeline: while the worker commits one chunk, the next
one is already spooled and being parsed on the other cores (parsing is most of the work on
real mail), and the replies of the chunks already committed are being delivered on a
thread (maildir fsyncs and relay round trips wait on I/O, not on the CPU). Each chunk is
one spool commit and one ticket commit; at most two chunks are in memory.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from maildaemon.config import Config
from maildaemon.domain import InboundMail
from maildaemon.sender import DeliveryReport, Sender
from maildaemon.spool import Incoming, Spool, SpoolEntry
from maildaemon.worker import Processed, Worker, parse_entry

CHUNK = 64


def split_recipients(values: list[str]) -> tuple[str, ...]:
    """Every `--rcpt` value, split at commas outside a quoted local part ("a,b"@x is one
    address), trimmed, empty ones dropped, each address once, in order.

    Postfix's pipe repeats a whole argument per recipient (`--rcpt=${recipient}` gives one
    `--rcpt=` each); other MTAs or scripts may pass one comma-separated list.
    """
    found: list[str] = []
    for value in values:
        for address in _outside_quotes_split(value):
            if address and address not in found:
                found.append(address)
    return tuple(found)


def _outside_quotes_split(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


@dataclass
class Chunk:
    names: list[str]
    spool_ids: list[str]
    entries: list[SpoolEntry]
    parsing: list[Future[InboundMail]] | None


class Ingest:
    def __init__(self, config: Config, spool: Spool, worker: Worker, sender: Sender,
                 clock: Callable[[], datetime], count: int) -> None:
        self.config = config
        self.spool = spool
        self.worker = worker
        self.sender = sender
        self.clock = clock
        self.pool = _parse_pool(count)
        self.delivery = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deliver")
        self.deliveries: list[Future[DeliveryReport]] = []

    def run(self, names: list[str], sender: str | None, rcpts: tuple[str, ...]
            ) -> Iterator[tuple[str, str, Processed | None]]:
        """(file name, spool id, result) per file, in order; no result means a running
        daemon claimed the entry first."""
        try:
            waiting: Chunk | None = None
            for start in range(0, len(names), CHUNK):
                ready = self._spool(names[start:start + CHUNK], sender, rcpts)
                if waiting is not None:
                    yield from self._process(waiting)
                waiting = ready
            if waiting is not None:
                yield from self._process(waiting)
        finally:
            if self.pool is not None:
                self.pool.shutdown()

    def delivered(self) -> DeliveryReport:
        """Waits for the background deliveries, then delivers whatever is still due."""
        total = DeliveryReport()
        self.deliveries.append(self.delivery.submit(self.sender.deliver_due, self.clock()))
        for future in self.deliveries:
            report = future.result()
            total.sent += report.sent
            total.retrying += report.retrying
            total.failed += report.failed
        self.delivery.shutdown()
        return total

    def _spool(self, names: list[str], sender: str | None, rcpts: tuple[str, ...]) -> Chunk:
        items = [Incoming(sender, rcpts, _read(name), "ingest") for name in names]
        spool_ids = self.spool.put_many(items)
        del items
        entries = self.spool.claim_named(spool_ids)
        parsing = None
        if self.pool is not None:
            limit = self.config.attachments.max_file_bytes
            trust = self.worker.settings.dmarc_trust
            mask = self.worker.mask
            parsing = [self.pool.submit(parse_entry, entry, limit, trust, mask)
                       for entry in entries]
        return Chunk(names, spool_ids, entries, parsing)

    def _process(self, chunk: Chunk) -> Iterator[tuple[str, str, Processed | None]]:
        parsed = None
        if chunk.parsing is not None:
            parsed = {entry.id: future.result()
                      for entry, future in zip(chunk.entries, chunk.parsing, strict=True)}
        done = {r.spool_id: r for r in self.worker.process_entries(chunk.entries, parsed)}
        if not self.deliveries or self.deliveries[-1].done():
            self.deliveries.append(self.delivery.submit(self.sender.deliver_due, self.clock()))
        for name, spool_id in zip(chunk.names, chunk.spool_ids, strict=True):
            yield name, spool_id, done.get(spool_id)


def _read(name: str) -> bytes:
    return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()


def _parse_pool(count: int) -> ProcessPoolExecutor | None:
    """More than a chunk of files: parse them on every core.

    The children are forked here, before this process starts any thread of its own (the
    delivery thread, the fsync threads), so they are safe copies.
    """
    cores = os.cpu_count() or 1
    if count <= CHUNK or cores < 2:
        return None
    pool = ProcessPoolExecutor(max_workers=cores, mp_context=mp.get_context("fork"))
    pool.submit(int).result()  # a fork-context pool starts all its children on first use
    return pool
