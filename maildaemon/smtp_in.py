"""The SMTP edge: accept our addresses only, make the bytes durable, then say 250.

Nothing but the spool happens before 250: no parsing, no ticket database. Messages that
finish DATA together are made durable together (`GroupCommitter`): one SQLite commit, one
fsync, many 250s, and none of them before its bytes are on disk. Any exception answers
`451 4.3.0`, never a 5xx that would make the sender bounce the customer's mail.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from maildaemon import metrics
from maildaemon.domain import PolicySettings
from maildaemon.edge_limits import (
    HEADER_TOO_LARGE,
    ConnectionLimits,
    header_section_too_large,
    peer_ip,
)
from maildaemon.edge_tls import StartTlsSMTP, without_auth
from maildaemon.headers import DOT_ATOM
from maildaemon.policy.routing import rcpt_verdict
from maildaemon.spool import Incoming, Spool, SpoolBusy

log = logging.getLogger("maildaemon.smtp")

MAX_RECIPIENTS = 100
TEMPFAIL = "451 4.3.0 Temporary failure, please try again later"
IDLE_REPLY = b"421 4.4.2 Idle for too long, closing connection\r\n"
DATA_TOO_LONG_REPLY = b"421 4.4.2 DATA took too long, closing connection\r\n"
TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"
# Only <CRLF>.<CRLF> ends DATA: a reader that also stops at a bare LF or CR form lets a
# session smuggle commands past a relay that reads the same bytes as one message.
TERMINATOR = b"\r\n.\r\n"
# Its proper prefixes: what was read so far ending in one may be a terminator's beginning.
TERMINATOR_STARTS = (b"\r\n.\r", b"\r\n.", b"\r\n", b"\r")
# "<local@domain>" of plain dot-atoms, as nearly every MAIL FROM and RCPT TO reads.
PLAIN_PATH = re.compile(rf"<({DOT_ATOM})@({DOT_ATOM})>")
# Control characters (C0, DEL, C1), line and paragraph separators, lone surrogates (bytes
# that were not UTF-8), and the backslash that introduces our escapes.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\\\\]")


def printable(text: str) -> str:
    """`text` with every control character escaped as repr() would write it, so a client
    cannot forge or hide log lines (CR, ESC sequences) with what it sends."""
    return UNPRINTABLE.sub(lambda found: repr(found.group())[1:-1], text)


class EscapeControls(logging.Filter):
    """Escapes control characters in the whole formatted line: every argument of every
    line logged about a session may be client text (an address, a command name)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = printable(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


# Set on the loggers themselves, not on a handler, so any handler the operator sets up gets
# escaped lines. "mail.log" is aiosmtpd's; it logs unknown command names as sent.
for _name in ("maildaemon.smtp", "mail.log"):
    logging.getLogger(_name).addFilter(EscapeControls())


class GroupCommitter:
    """Batches concurrent `put`s into one spool transaction: one fsync for many 250s.

    Messages whose DATA completes in the same turn of the event loop are committed together.
    A small batch is committed right in the loop: an fdatasync costs about 0.1 ms here, less
    than handing the batch to a thread and back (measured: 0.57x -> 0.6x+ of the null server
    at 8 connections). A batch of large messages goes to a thread, so that one 70 MB message
    does not stall every other connection while it is written.

    The loop must never wait for a lock, though: another process holding the spool (the
    worker, `spool retry`, a backup) froze every session for up to SQLite's 30 s busy
    timeout. So the edge's connection has no busy timeout at all: in the loop, a locked
    spool fails at once, and the batch is tried again after a short sleep of the loop (other
    sessions go on meanwhile) until the oldest message in it has waited `max_wait` seconds;
    then those clients get 451. Large batches wait on the thread, by the same deadline.
    """

    INLINE_BYTES = 512 * 1024
    MAX_WAIT = 4.0
    FIRST_RETRY, LAST_RETRY = 0.0005, 0.05

    def __init__(self, spool: Spool, on_commit: Callable[[], None] = lambda: None,
                 max_batch: int = 256, max_wait: float = MAX_WAIT) -> None:
        self.spool = spool
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.busy_timeout_off = False  # set at the first commit, on the loop's side
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        # Each message with its client's future and the loop time it may wait until.
        self.waiting: list[tuple[Incoming, asyncio.Future[str], float]] = []
        self.flushing = False

    async def put(self, item: Incoming) -> str:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self.waiting.append((item, future, loop.time() + self.max_wait))
        if not self.flushing:
            self.flushing = True
            loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self.waiting:
                batch = self.waiting[: self.max_batch]
                del self.waiting[: self.max_batch]
                try:
                    ids = await self._commit([item for item, _, _ in batch],
                                             min(until for _, _, until in batch))
                except Exception as exc:
                    for _, future, _ in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future, _), spool_id in zip(batch, ids, strict=True):
                    if not future.done():
                        future.set_result(spool_id)
                self.on_commit()
                await asyncio.sleep(0)  # let the next DATAs of this turn join the batch
        finally:
            self.flushing = False

    async def _commit(self, items: list[Incoming], until: float) -> list[str]:
        """In the loop when small, retried there while the spool is locked (each try fails
        at once, so the loop never waits); large batches on the thread. Both give up by
        `until`, and the clients get 451."""
        if not self.busy_timeout_off:
            self.spool.wait_for_locks(0)
            self.busy_timeout_off = True
        loop = asyncio.get_running_loop()
        if sum(len(item.raw) for item in items) > self.INLINE_BYTES:
            return await loop.run_in_executor(self.executor, self._put_waiting, items,
                                              until - loop.time())
        delay = self.FIRST_RETRY
        for _ in range(100_000):
            try:
                return self.spool.put_many(items)
            except SpoolBusy:
                if loop.time() + delay > until:
                    raise
            # Not a thread: handing a batch to one and back costs up to a GIL switch
            # interval each way under load (p99 at 8 connections, see bench/README.md).
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.LAST_RETRY)
        raise TimeoutError("spool locked")

    def _put_waiting(self, items: list[Incoming], seconds: float) -> list[str]:
        """On the spool thread: wait up to `seconds` for another process's lock."""
        self.spool.wait_for_locks(seconds)
        try:
            return self.spool.put_many(items)
        finally:
            self.spool.wait_for_locks(0)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class Handler:
    def __init__(self, settings: PolicySettings, committer: GroupCommitter,
                 max_recipients: int = MAX_RECIPIENTS) -> None:
        self.settings = settings
        self.committer = committer
        self.draining = False
        self.max_recipients = max_recipients  # `smtp.max_recipients`

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        """No AUTH line, also after STARTTLS: we never relay (edge_tls.py)."""
        session.host_name = hostname
        return without_auth(responses)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if self.draining:
            return "421 4.3.2 Service shutting down, please try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        # RFC 5321 4.5.3.1.10: the rest get 452; the message goes to the first ones.
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        verdict = rcpt_verdict(address, self.settings)
        if verdict.startswith("250"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        else:
            log.info("refused RCPT %s from %s: %s", address, session.peer, verdict)
        return verdict

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        item = Incoming(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(raw), peer)
        try:
            spool_id = await self.committer.put(item)
        except Exception as exc:
            # Answered here rather than in handle_exception so aiosmtpd resets the envelope.
            log.error("spool write failed, answered 451: %s: %s", type(exc).__name__, exc)
            return TEMPFAIL
        metrics.accepted()
        return f"250 2.0.0 OK queued as {spool_id}"

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP error, answered 451: %s: %s", type(error).__name__, error)
        return TEMPFAIL


class EdgeSMTP(StartTlsSMTP):
    """aiosmtpd's protocol with a faster, leaner DATA phase, tracked for a clean shutdown.

    aiosmtpd reads DATA one line at a time into a list and joins it: two copies of the
    message and a Python-level step per line (a 70 MB message costs it about 4x its size in
    memory, and most of our CPU under load). Here the stream is read in chunks up to each
    possible terminator, joined once, and dot-unstuffing is a single `replace` where needed.
    Lines longer than RFC 5321's 1000 octets are accepted: real mailers send them, and a
    permanent error would bounce a customer's mail we could have taken.

    `timeout` is the idle time allowed between commands and, during DATA, between reads;
    `data_timeout` bounds a whole DATA upload, so a slow but steady sender is not cut off
    after `timeout` seconds, and a trickling one is not kept forever. The idle timer is
    set again only by a complete command, so one dribbled a byte at a time gets no more.

    `limits` counts connections per client IP (edge_limits.py): one over the limits gets
    421 and is closed before a command is read. `tls` gives STARTTLS (edge_tls.py).
    """

    line_length_limit = 65536

    def __init__(self, handler: Handler, registry: set[EdgeSMTP],
                 data_timeout: float = 3600.0, limits: ConnectionLimits | None = None,
                 max_header_size: int = 0, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.registry = registry
        self.data_timeout = data_timeout
        self.data_deadline: float | None = None  # set while DATA is being read
        self.last_received = 0.0
        self.limits = limits
        self.max_header_size = max_header_size
        self.refusal = TOO_BIG  # the 552 of the DATA being read, if it is refused
        self.admitted = False  # counted by `limits`, under the client's IP:
        self.ip: str | None = None
        self.refused = False  # over the limits: answered 421 and closed

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        self.last_received = self.loop.time()
        super().data_received(data)

    def push(self, status: AnyStr) -> Coroutine[Any, Any, None]:
        """Every reply counted by its code (metrics.py; a no-op with metrics off). Not a
        coroutine of its own: aiosmtpd's is returned, so a reply costs no extra frame."""
        metrics.smtp_reply(status if isinstance(status, str) else status.decode("latin-1"))
        return super().push(status)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called again with the encrypted transport after STARTTLS: counted once.
        if self.limits is not None and not self.admitted:
            self.ip = peer_ip(transport.get_extra_info("peername"))
            refusal = self.limits.admit(self.ip)
            if refusal is not None:
                self.refused = True
                if isinstance(transport, asyncio.WriteTransport):
                    transport.write(refusal)
                transport.close()
                return
            self.admitted = True
        self.registry.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self.refused:
            return
        if self.limits is not None and self.admitted:
            self.limits.release(self.ip)
            self.admitted = False
        self.registry.discard(self)
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        return False if self.refused else super().eof_received()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parsing, with a fast path for a plain `<local@domain>`.

        aiosmtpd runs the email package's RFC 5322 parser on every MAIL FROM and RCPT TO
        (and defines a class on each call): a fifth of the edge's CPU under load. For a path
        of plain dot-atoms that parser returns the text between the brackets and whatever
        follows them, less leading whitespace; anything else (comments, quoted or non-ASCII
        local parts, domain literals, source routes, `<>`) still goes through it.
        """
        found = PLAIN_PATH.match(arg)
        rest = arg[found.end():] if found else ""
        if found is None or "(" in rest:
            return super()._getaddr(arg)
        if self.local_part_limit and len(found.group(1)) > self.local_part_limit:
            return None, None
        return found.group(0)[1:-1], rest.lstrip() if rest[:1] in (" ", "\t") else rest

    @property
    def in_transaction(self) -> bool:
        envelope = self.envelope
        return envelope is not None and envelope.mail_from is not None

    def _timeout_cb(self) -> None:
        """Closes the connection with a 421 that says why (aiosmtpd closes it silently).

        During DATA, bytes that arrived since the timer was set keep the client: the timer
        is set again for the rest of the idle time, never past the DATA deadline. (Setting
        it again on every read would cost a timer per read on the fast path.)
        """
        reply = IDLE_REPLY
        deadline = self.data_deadline
        if deadline is not None:
            now = self.loop.time()
            idle_until = self.last_received + self._timeout_duration
            if now < min(idle_until, deadline):
                self._reset_timeout(min(idle_until, deadline) - now)
                return
            if now >= deadline:
                reply = DATA_TOO_LONG_REPLY
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(reply)
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    def hang_up(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(b"421 4.3.2 Service shutting down\r\n")
            transport.close()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        envelope = self.envelope
        assert envelope is not None
        if not envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content = await self._read_data()
        except asyncio.IncompleteReadError:  # the client went away mid-message
            if self.transport is not None:
                self.transport.close()
            return
        if content is None:
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push_data_reply(self.refusal, envelope)
            return
        envelope.content = envelope.original_content = content
        status = await self.event_handler.handle_DATA(self, self.session, envelope)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push_data_reply(status, envelope)

    async def push_data_reply(self, status: str, envelope: Envelope) -> None:
        """The reply to a message: one over SMTP; lmtp.py sends one per recipient."""
        await self.push(status)

    async def _read_data(self) -> bytes | None:
        """The message up to its terminating line ".", dot-unstuffed; None if it exceeded
        the size limit (read to its end all the same, so the 552 comes at the right moment).
        """
        self.data_deadline = self.loop.time() + self.data_timeout
        if self.data_timeout < self._timeout_duration:  # else the DATA command's timer will do
            self._reset_timeout(self.data_timeout)
        try:
            chunks, total = await self._read_to_terminator()
        finally:
            self.data_deadline = None
        self._reset_timeout()  # the commit may take a moment: idle time starts again
        self.refusal = TOO_BIG
        if self.data_size_limit and total > self.data_size_limit + 3:
            return None
        strip = 3  # the ".\r\n" of the terminator, which may span the last pieces
        while strip:
            last = chunks.pop()
            if len(last) > strip:
                chunks.append(last[:-strip])
                break
            strip -= len(last)
        data = b"".join(chunks)  # one copy; the pieces go right after
        del chunks
        if self.max_header_size and header_section_too_large(data, self.max_header_size):
            self.refusal = HEADER_TOO_LARGE
            return None
        return unstuffed(data)

    async def _read_to_terminator(self) -> tuple[list[bytes], int]:
        """The pieces read up to and including the terminator, and their total size (the
        pieces are dropped once over the size limit).

        Exactly what aiosmtpd 1.4.5+ reads line by line, where lines end in CRLF only: one
        `readuntil` per 64 KB reads up to "\\r\\n.\\r\\n". Only where what was read so
        far ends like the start of a terminator (after a CRLF, as at the very beginning) do
        we read byte by byte, since a terminator could begin in bytes already taken.
        """
        limit = self.data_size_limit
        chunks: list[bytes] = []
        total = 0
        tail = b"\r\n"  # DATA starts at the beginning of a line
        while not tail.endswith(TERMINATOR):
            if tail.endswith(TERMINATOR_STARTS):
                piece = await self._reader.readexactly(1)
            else:
                try:
                    piece = await self._reader.readuntil(TERMINATOR)
                except asyncio.LimitOverrunError as overrun:
                    piece = await self._reader.read(max(1, overrun.consumed))
            total += len(piece)
            if limit and total > limit + 3:
                chunks.clear()
            else:
                chunks.append(piece)
            tail = (tail + piece)[-5:]
        return chunks, total


def unstuffed(data: bytes) -> bytes:
    """RFC 5321 4.5.2: a line of DATA that starts with "." loses that dot. Lines end in
    CRLF only, so a dot after a bare CR or LF is data (as aiosmtpd and Postfix read it)."""
    if data.startswith(b"."):
        data = data[1:]
    elif b"\r\n." not in data:
        return data
    return data.replace(b"\r\n.", b"\r\n")
