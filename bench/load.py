"""A bounded asyncio SMTP load client for the benchmarks (standard library only).

Sends `count` messages over `connections` parallel connections (each connection reuses its
session for many messages), every message a distinct new ticket: unique Message-ID and
sender. Latency is measured from handing the final "<CRLF>.<CRLF>" to the kernel until the
reply line is read: the time the server spends making the message durable and answering.

Refuses any target that is not a loopback address, stops after `count` messages or
`max_seconds`, whichever comes first.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import itertools
import time
from dataclasses import dataclass


def _check_loopback(host: str) -> None:
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to send load to {host}: loopback addresses only")


def body_for(size: int) -> bytes:
    """A realistic body of about `size` bytes: text, plus a base64 attachment when large."""
    text = (b"Hello support team,\r\n\r\nThe sync stops at 42% since the update. "
            b"Screenshot attached.\r\n\r\nRegards\r\n")
    if size <= 4096:
        filler = b"".join(b"Line %d of the log: nothing unusual here.\r\n" % i
                          for i in range(size // 40))
        return b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + filler
    payload = base64.encodebytes(bytes(range(256)) * (size * 3 // 4 // 256 + 1))
    payload = payload[: max(0, size - 600)].replace(b"\n", b"\r\n")
    return (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text +
            b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="report.pdf"\r\n\r\n' + payload +
            b"\r\n--b--\r\n")


def message(seq: int, run: str, body: bytes, rcpt: str) -> bytes:
    head = (f"From: Customer {seq} <c{seq}.{run}@example.org>\r\n"
            f"To: {rcpt}\r\nSubject: Load test {run} {seq}\r\n"
            f"Message-ID: <{run}.{seq}@load.example.org>\r\n"
            "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n").encode()
    return head + body


def dot_stuff(data: bytes) -> bytes:
    data = data.replace(b"\r\n.", b"\r\n..")
    return (b"." + data if data.startswith(b".") else data) + b"\r\n.\r\n"


@dataclass
class LoadResult:
    sent: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def msgs_per_s(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def _session(host: str, port: int, jobs: itertools.count[int], count: int, run: str,
                   body: bytes, rcpt: str, deadline: float, result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)

    async def reply() -> bytes:
        while True:
            line = await asyncio.wait_for(reader.readline(), 60)
            if line[3:4] != b"-":
                return line

    async def command(line: bytes) -> bytes:
        writer.write(line + b"\r\n")
        return await reply()

    try:
        await reply()
        await command(b"EHLO load.example.org")
        while time.monotonic() < deadline:
            seq = next(jobs)
            if seq >= count:
                break
            ok = (await command(f"MAIL FROM:<c{seq}.{run}@example.org>".encode()))[:1] == b"2"
            ok = ok and (await command(f"RCPT TO:<{rcpt}>".encode()))[:1] == b"2"
            ok = ok and (await command(b"DATA"))[:1] == b"3"
            if not ok:
                result.errors += 1
                await command(b"RSET")
                continue
            writer.write(dot_stuff(message(seq, run, body, rcpt)))
            await writer.drain()
            started = time.perf_counter()
            answer = await reply()
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            if answer[:1] == b"2":
                result.sent += 1
            else:
                result.errors += 1
        await command(b"QUIT")
    finally:
        writer.close()


async def _run(host: str, port: int, count: int, connections: int, size: int, rcpt: str,
               run: str, max_seconds: float, body: bytes | None) -> LoadResult:
    _check_loopback(host)
    body = body if body is not None else body_for(size)
    result = LoadResult(0, 0, 0.0, [])
    jobs = itertools.count()
    started = time.monotonic()
    deadline = started + max_seconds
    outcomes = await asyncio.gather(
        *[_session(host, port, jobs, count, run, body, rcpt, deadline, result)
          for _ in range(connections)],
        return_exceptions=True,
    )
    result.errors += sum(1 for o in outcomes if isinstance(o, BaseException))
    result.seconds = time.monotonic() - started
    return result


def run_load(port: int, count: int, connections: int, size: int, *, run: str,
             rcpt: str = "support@healthsync.com", host: str = "127.0.0.1",
             max_seconds: float = 120.0, body: bytes | None = None) -> LoadResult:
    """`body`: the MIME body to send (headers and all after the envelope ones); else a
    generated one of about `size` bytes."""
    return asyncio.run(_run(host, port, count, connections, size, rcpt, run, max_seconds,
                            body))
