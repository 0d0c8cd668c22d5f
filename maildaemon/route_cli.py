"""`maildaemon route ADDRESS...`: which queue mail to an address reaches, or the SMTP answer
the address gets at RCPT TO (`550 5.1.1` for an unknown local part, `550 5.7.1` for another
domain), as Salmon's `routes --test` does for its handlers.

Computed by the functions the edge and the worker call themselves, on the settings the
daemon builds from the same configuration: `policy.routing.rcpt_verdict` (what
smtp_in.Handler.handle_RCPT answers), `queue_for_address` and `choose_queue` (the worker's
routing: a `+tag` is ignored, case does not matter, and with several of our addresses on
one message the `[routing] order` decides). Nothing is opened: no database, no spool.

Exit 0 when every address is accepted, 1 when any would be refused (so a script can test
an address), 2 on a usage error. With several addresses, the queue a message to all of
them lands in is printed last.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from maildaemon.config import Config
from maildaemon.policy.routing import (
    choose_queue,
    queue_for_address,
    rcpt_verdict,
    split_address,
)
from maildaemon.worker import policy_settings

EX_OK, EX_REFUSED = 0, 1


def add_route_parser(sub: Any) -> None:
    route = sub.add_parser("route", help="which queue an address reaches, or the SMTP "
                           "answer it gets")
    route.add_argument("addresses", nargs="+", metavar="ADDRESS")
    route.add_argument("--json", action="store_true")


def routes(config: Config, addresses: list[str]) -> dict[str, Any]:
    settings = policy_settings(config)
    found = []
    for address in addresses:
        reply = rcpt_verdict(address, settings)
        queue = queue_for_address(address, settings) if reply.startswith("250") else None
        local, domain = split_address(address)
        whole = address.strip().strip("<>").rpartition("@")[0]
        tag = whole.split("+", 1)[1] if "+" in whole else None
        found.append({"address": address, "accepted": queue is not None, "reply": reply,
                      "queue": queue, "local_part": local or None, "tag": tag,
                      "domain": domain or None,
                      "queue_address": config.queue_address(queue) if queue else None,
                      "team": list(config.team_of(queue)) if queue else []})
    accepted = [str(r["address"]) for r in found if r["accepted"]]
    winner, addressed = choose_queue(accepted, settings) if accepted else (None, [])
    return {"addresses": found, "queue": winner, "queues": addressed,
            "order": list(settings.order)}


def cmd_route(config: Config, args: argparse.Namespace) -> int:
    result = routes(config, args.addresses)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for r in result["addresses"]:
            if r["accepted"]:
                print(f"{r['address']}: queue {r['queue']} (answers as {r['queue_address']}"
                      + (f"; tag {r['tag']!r} ignored" if r["tag"] else "")
                      + (f"; team {', '.join(r['team'])}" if r["team"] else "")
                      + f"); RCPT TO gets {r['reply']}")
            else:
                print(f"{r['address']}: refused at RCPT TO with {r['reply']}")
        if len(result["addresses"]) > 1 and result["queue"]:
            print(f"a message to all of these: queue {result['queue']} (of "
                  f"{', '.join(result['queues'])}, by [routing] order)")
    return EX_OK if all(r["accepted"] for r in result["addresses"]) else EX_REFUSED
