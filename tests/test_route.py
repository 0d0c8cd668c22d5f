"""Issue 14, `maildaemon route ADDRESS...` (route_cli.py): the queue an address reaches or the
SMTP answer it gets, as a table; the CLI's exit codes; and, against a real `serve`, the
answer `route` predicts is the one the edge gives at RCPT TO."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from maildaemon.config import config_from_dict
from maildaemon.route_cli import routes
from tests.conftest import DOMAIN, Installation

CONFIG = config_from_dict({
    "mail": {"domain": DOMAIN},
    "queues": {"support": "support", "tech": "tech", "billing": "billing", "bugs": "bugs",
               "escalation": "escalation", "help": "support", "rechnung": "billing"},
    "teams": {"billing": ["billing-team@internal.healthsync.com"]},
})

# address -> (SMTP answer's first word, queue it reaches)
TABLE = [
    ("support@healthsync.com", "250", "support"),
    ("Billing@HealthSync.COM", "250", "billing"),  # case does not matter
    ("<tech@healthsync.com>", "250", "tech"),  # as written in RCPT TO
    ("bugs+HS-123456@healthsync.com", "250", "bugs"),  # a +tag is ignored
    ("rechnung@healthsync.com", "250", "billing"),  # an alias of a queue
    ("help@healthsync.com", "250", "support"),
    ("sales@healthsync.com", "550 5.1.1", None),  # not one of ours
    ("support@healthsync.com.evil.example", "550 5.7.1", None),  # another domain
    ("support@example.org", "550 5.7.1", None),
    ("no-at-sign", "550 5.7.1", None),
]


@pytest.mark.parametrize(("address", "reply", "queue"), TABLE)
def test_route_table(address: str, reply: str, queue: str | None) -> None:
    [found] = routes(CONFIG, [address])["addresses"]
    assert found["reply"].startswith(reply)
    assert found["queue"] == queue
    assert found["accepted"] is (queue is not None)


def test_an_alias_answers_as_its_queue_and_names_its_team() -> None:
    [found] = routes(CONFIG, ["rechnung+juergen@healthsync.com"])["addresses"]
    assert found["queue_address"] == f"billing@{DOMAIN}"
    assert found["tag"] == "juergen" and found["local_part"] == "rechnung"
    assert found["team"] == ["billing-team@internal.healthsync.com"]


def test_several_addresses_land_by_the_routing_order() -> None:
    result = routes(CONFIG, [f"support@{DOMAIN}", f"billing@{DOMAIN}", "x@example.org"])
    assert result["queue"] == "billing"  # billing ranks before support by default
    assert result["queues"] == ["billing", "support"]


def test_cli_exit_codes_and_text(installation: Installation) -> None:
    ok = installation.cli("route", f"billing+x@{DOMAIN}")
    assert ok.stdout == (f"billing+x@{DOMAIN}: queue billing (answers as billing@{DOMAIN}; "
                         "tag 'x' ignored); RCPT TO gets 250 2.1.5 OK\n")
    refused = installation.cli("route", f"support@{DOMAIN}", f"nobody@{DOMAIN}",
                               "--json", check=False)
    assert refused.returncode == 1
    data = json.loads(refused.stdout)
    assert [a["accepted"] for a in data["addresses"]] == [True, False]
    assert data["addresses"][1]["reply"].startswith("550 5.1.1")
    assert installation.cli("route", check=False).returncode == 2


@pytest.fixture(scope="module")
def answers(shared_daemon: Installation) -> Iterator[Installation]:
    yield shared_daemon


@pytest.mark.slow
def test_route_predicts_what_the_edge_answers(answers: Installation) -> None:
    addresses = ["support@healthsync.com", "Billing+x@HealthSync.com", "sales@healthsync.com",
                 "support@example.org"]
    predicted = json.loads(answers.cli("route", "--json", *addresses,
                                       check=False).stdout)["addresses"]
    with answers.smtp() as client:
        client.ehlo("client.example.org")
        client.mail("alice@example.org")
        for address, route in zip(addresses, predicted, strict=True):
            code, text = client.rcpt(address)
            assert f"{code} {text.decode()}" == route["reply"]
