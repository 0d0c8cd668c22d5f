"""Kill the worker and the outbound relay at random points under load.

Every message that got `250` must end in exactly one ticket with exactly one acknowledgement
at the relay. The relay is a separate process (a sink that we own in the test, so that it can
be SIGKILLed like a real relay's host); the worker is the real child of `maildaemon serve`.

One window is inherent to any sender (RFC 5321 section 6.1): the relay took the message and
died before its `250` reached us, or we died between the relay's `250` and marking the row
sent. The copy sent again carries the same Message-ID, so a relay or mail client folds it; we
count acknowledgements by Message-ID, and copies only within the kills that can cause them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from tests.conftest import DOMAIN, Installation, free_port, mail, wait_until, worker_pid

pytestmark = pytest.mark.slow

SINK = """
import asyncio, os, sys
from aiosmtpd.controller import Controller

class Sink:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "ab") as out:
            record = envelope.original_content
            out.write(len(record).to_bytes(8, "big") + record)
        return "250 OK"

controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
asyncio.run(asyncio.sleep(3600))
"""


class RelayProcess:
    """An SMTP sink in a process of its own; every message it took is appended to a file."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.script = tmp / "sink.py"
        self.script.write_text(SINK)
        self.received = tmp / "relay.bin"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(self.script), str(self.port),
                                      str(self.received)], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"ready"
        self.proc.stdout.close()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def messages(self) -> list[bytes]:
        data = self.received.read_bytes() if self.received.exists() else b""
        found, at = [], 0
        while at + 8 <= len(data):
            size = int.from_bytes(data[at:at + 8], "big")
            if at + 8 + size > len(data):
                break  # killed mid-write: that copy was never confirmed to the sender
            found.append(data[at + 8:at + 8 + size])
            at += 8 + size
        return found


def send_all(inst: Installation, messages: dict[str, bytes], accepted: set[str],
             stop: threading.Event, lane: int, lanes: int) -> None:
    """As an MTA would: each message until it gets 250 (bounded tries)."""
    for index, (sender, raw) in enumerate(messages.items()):
        if index % lanes != lane:
            continue
        for _ in range(40):
            if stop.is_set():
                return
            try:
                with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as client:
                    client.sendmail(sender, [f"support@{DOMAIN}"], raw)
                accepted.add(sender)
                break
            except (OSError, smtplib.SMTPException):
                time.sleep(0.1)


def test_random_kills_of_worker_and_relay_keep_every_message_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("FAULT_SEED", time.time_ns() % 100_000)))
    relay = RelayProcess(tmp_path)
    relay.start()
    inst = Installation(tmp_path, extra_config=f"""transport = "smtp"
relay_host = "127.0.0.1"
relay_port = {relay.port}
max_attempts = 100
retry_base_seconds = 0.1
retry_max_seconds = 0.5
timeout = 5.0
""")
    messages = {
        f"fault{i}@example.org": mail(sender=f"fault{i}@example.org", subject=f"fault {i}",
                                      message_id=f"<fault-{i}@example.org>").as_bytes()
        for i in range(300)
    }
    accepted: set[str] = set()
    stop = threading.Event()
    inst.start()
    kills = Counter[str]()
    try:
        assert inst.proc is not None
        lanes = [threading.Thread(target=send_all, args=(inst, messages, accepted, stop, n, 4))
                 for n in range(4)]
        for lane in lanes:
            lane.start()
        # Two worker kills at most: a kill counts as an attempt of the messages it held, and
        # the third attempt would hold them (as it must for a message that kills the worker).
        for _ in range(12):
            time.sleep(rng.uniform(0.1, 0.8))
            if kills["worker"] < 2 and rng.random() < 0.4:
                os.kill(worker_pid(inst), signal.SIGKILL)
                kills["worker"] += 1
            else:
                relay.kill()
                kills["relay"] += 1
                time.sleep(rng.uniform(0.0, 0.5))
                relay.start()
        for lane in lanes:
            lane.join(120)
        assert len(accepted) == len(messages)  # every message got its 250 in the end

        tickets = inst.wait_processed(len(accepted), timeout=90)
        requesters = Counter(t["requester"] for t in tickets)
        assert set(requesters) == accepted
        assert max(requesters.values()) == 1  # one ticket per accepted message
        wait_until(lambda: json.loads(inst.cli("outbox", "ls", "--json").stdout) == [], 90,
                   "the outbox to drain")
    finally:
        stop.set()
        inst.kill()
        relay.kill()

    acks = [message_from_bytes(raw, policy=default) for raw in relay.messages()]
    ids_by_customer: dict[str, set[str]] = {}
    for ack in acks:
        ids_by_customer.setdefault(str(ack["To"]), set()).add(str(ack["Message-ID"]))
    assert set(ids_by_customer) == accepted, kills
    assert all(len(ids) == 1 for ids in ids_by_customer.values()), kills
    copies = len(acks) - len(accepted)
    print(f"kills {dict(kills)}, {copies} copies sent again")
    assert copies <= sum(kills.values()), (copies, kills)
