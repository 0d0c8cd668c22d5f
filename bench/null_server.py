"""The limit of the SMTP layer on this machine: aiosmtpd answering 250 and doing nothing.

Built the way maildaemon's edge is (one asyncio loop, `loop.create_server`), so the ratio
between the two measures only what maildaemon adds. Prints "ready" once listening; exits on
SIGTERM or after --max-seconds, printing its peak RSS in bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import signal
import sys
from typing import Any

from aiosmtpd.smtp import SMTP


class NullHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def main(port: int, max_seconds: float, size_limit: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(NullHandler(), data_size_limit=size_limit, enable_SMTPUTF8=True,
                     hostname="null", ident="ESMTP", loop=loop),
        host="127.0.0.1", port=port,
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max_seconds)
    server.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak_rss {peak}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=900)
    parser.add_argument("--size-limit", type=int, default=100 * 2**20)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.max_seconds, args.size_limit))
    sys.exit(0)
