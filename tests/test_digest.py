"""The daily digest per team: which tickets, in which order, once a day, at which hour.

Tickets are made by the real worker from real mail on real SQLite files; only the clock is
set by the test. The digests are queued in the real outbox and delivered by the real
sender into a maildir.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest

from maildaemon.config import Config, ConfigError, config_from_dict
from maildaemon.digest import (
    Digests,
    digest_day,
    digest_trigger,
    past_digest_time,
    teams_of,
    words_for,
)
from maildaemon.domain import CustomerChange, Status, Tier
from maildaemon.sender import Sender, transport_of
from maildaemon.spool import Incoming
from maildaemon.store import Store, iso, open_store
from maildaemon.workproc import Parts, worker_parts
from tests.conftest import SettableClock

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 07:00 in Berlin (winter)
AGENT = "ann.agent@internal.healthsync.com"
BILLING_LIST = "billing-list@internal.healthsync.com"
DESK = "desk@internal.healthsync.com"


def settings(tmp_path: Path, **notifications: str) -> Config:
    return config_from_dict({
        "storage": {"data_dir": str(tmp_path / "data")},
        "outbound": {"maildir": str(tmp_path / "out")},
        "teams": {"billing": [AGENT, BILLING_LIST], "default": [DESK]},
        "notifications": {"digest_at": "08:00", "digest_timezone": "Europe/Berlin",
                          **notifications},
    })


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(T0)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return settings(tmp_path)


@pytest.fixture
def parts(config: Config, clock: SettableClock) -> Iterator[Parts]:
    made = worker_parts(config, clock)
    yield made
    made.checkpointer.stop()


def new_ticket(parts: Parts, queue: str, subject: str, body: str = "Please help.") -> str:
    raw = (f"From: carol@example.org\r\nTo: {queue}@healthsync.com\r\nSubject: {subject}\r\n"
           f"Message-ID: <{abs(hash((queue, subject)))}@example.org>\r\n\r\n{body}\r\n"
           ).encode()
    parts.spool.put_many([Incoming("carol@example.org", (f"{queue}@healthsync.com",), raw)])
    [done] = parts.worker.process_batch()
    assert done.outcome == "new_ticket" and done.ticket
    return done.ticket


def store_of(parts: Parts) -> Store:
    store = parts.worker.store
    assert isinstance(store, Store)
    return store


def digest_rows(parts: Parts) -> list[tuple[object, str, str]]:
    return [tuple(r) for r in store_of(parts).conn.execute(
        "SELECT ticket_id, rcpt_to, status FROM outbox WHERE kind = 'team_digest'"
        " ORDER BY id")]


def test_each_team_covers_its_queues_and_the_default_team_the_others(config: Config) -> None:
    teams = {team.label: team.addresses for team in teams_of(config)}
    assert teams == {"billing": (AGENT, BILLING_LIST),
                     "bugs, escalation, support, tech": (DESK,)}
    shared = config_from_dict({"teams": {"billing": [DESK], "tech": [DESK]}})
    assert [(t.label, t.addresses) for t in teams_of(shared)] == [("billing, tech", (DESK,))]
    assert teams_of(config_from_dict({})) == []


def test_overdue_tickets_come_first_then_each_priority_without_resolved_or_closed(
        parts: Parts, config: Config, clock: SettableClock) -> None:
    medium = new_ticket(parts, "billing", "Question about my invoice")
    clock.now = T0 + timedelta(minutes=30)
    # Critical is for premium customers (policy/priorityrules.py): carol is one.
    store_of(parts).upsert_customers([CustomerChange("carol@example.org", Tier.PREMIUM)],
                                     clock.now)
    critical = new_ticket(parts, "billing", "Complete outage of payments at our clinics")
    high = new_ticket(parts, "billing", "Payments are failing: card declined")
    answered = new_ticket(parts, "billing", "Cannot upload the refund form")
    resolved = new_ticket(parts, "billing", "Receipt missing")
    other_queue = new_ticket(parts, "tech", "Pump display blank", body="Serial 12345 secret")
    store = store_of(parts)
    with store.transaction():
        for number, status in ((answered, Status.OPEN), (resolved, Status.RESOLVED)):
            record = store.ticket(number)
            assert record is not None
            store.set_status(record.id, status, iso(clock.now), None)
    clock.now = T0 + timedelta(hours=5)  # critical (1 h) and high (4 h) missed; medium not

    outcomes = Digests(config, open_store(config)).run(clock.now)

    billing = [o for o in outcomes if o.team == "billing"]
    assert [o.address for o in billing] == [AGENT, BILLING_LIST]
    assert {o.result for o in outcomes} == {"queued"}
    assert billing[0].subject == "[billing] Daily digest: 4 open, 2 overdue"
    text = billing[0].mail.text
    order = [text.index(n) for n in (critical, high, "HIGH (1)", answered, "MEDIUM (1)",
                                     medium)]
    assert order == sorted(order), text
    assert text.index("OVERDUE") < text.index(critical)
    assert "age 4 h" in text and "(3 h ago)" in text  # the critical one: due 1 h after
    assert resolved not in text and other_queue not in text
    desk = [o for o in outcomes if o.address == DESK]
    assert len(desk) == 1 and other_queue in desk[0].mail.text and medium not in \
        desk[0].mail.text
    assert "Serial 12345" not in desk[0].mail.raw.decode()  # no customer text but subjects
    assert "Pump display blank" in desk[0].mail.text


def test_a_digest_is_queued_once_a_day_per_team_address_and_delivered(
        parts: Parts, config: Config, clock: SettableClock) -> None:
    new_ticket(parts, "billing", "Invoice twice")
    clock.now = T0 + timedelta(hours=1)  # 08:00 in Berlin
    first = Digests(config, open_store(config)).run(clock.now)
    assert [o.result for o in first] == ["queued"] * 3
    # A worker restarted at 08:00:30 runs the job again, on a new connection.
    again = Digests(config, open_store(config)).run(clock.now + timedelta(seconds=30))
    assert [o.result for o in again] == ["already sent today"] * 3
    late_evening = T0 + timedelta(hours=16, minutes=59)  # 23:59 in Berlin: still today
    assert {o.result for o in Digests(config, open_store(config)).run(late_evening)} == \
        {"already sent today"}
    rows = digest_rows(parts)
    assert [(r[0], r[1]) for r in rows] == [(None, AGENT), (None, BILLING_LIST), (None, DESK)]

    sender = Sender(store_of(parts), transport_of(config), config.outbound)
    sender.deliver_due(clock.now)  # the customer's acknowledgement too
    assert {r[2] for r in digest_rows(parts)} == {"sent"}
    delivered = [m for p in sorted((Path(config.outbound.maildir) / "new").iterdir())
                 for m in [email.message_from_bytes(p.read_bytes(), policy=default)]
                 if "Daily digest" in str(m["Subject"])]
    assert sorted(str(m["To"]) for m in delivered) == sorted([AGENT, BILLING_LIST, DESK])
    assert {str(m["Auto-Submitted"]) for m in delivered} == {"auto-generated"}

    next_morning = T0 + timedelta(days=1, hours=1)
    assert {o.result for o in Digests(config, open_store(config)).run(next_morning)} == \
        {"queued"}
    assert len(digest_rows(parts)) == 6


def test_a_dry_run_queues_nothing_and_claims_no_day(
        parts: Parts, config: Config, clock: SettableClock) -> None:
    new_ticket(parts, "billing", "Invoice twice")
    dry = Digests(config, open_store(config)).run(clock.now, dry_run=True)
    assert {o.result for o in dry} == {"dry run"} and digest_rows(parts) == []
    assert {o.result for o in Digests(config, open_store(config)).run(clock.now)} == \
        {"queued"}


def test_eight_in_berlin_is_seven_utc_in_winter_and_six_in_summer() -> None:
    trigger = digest_trigger("08:00", "Europe/Berlin")
    winter = trigger.get_next_fire_time(None, T0)
    assert winter is not None and winter.astimezone(UTC) == datetime(2026, 12, 1, 7, 0,
                                                                     tzinfo=UTC)
    summer = trigger.get_next_fire_time(None, datetime(2026, 7, 1, 5, 0, tzinfo=UTC))
    assert summer is not None and summer.astimezone(UTC) == datetime(2026, 7, 1, 6, 0,
                                                                     tzinfo=UTC)
    assert not past_digest_time(datetime(2026, 12, 1, 6, 59, tzinfo=UTC), "08:00",
                                "Europe/Berlin")
    assert past_digest_time(datetime(2026, 12, 1, 7, 0, tzinfo=UTC), "08:00", "Europe/Berlin")
    # 23:30 UTC is already tomorrow in Berlin: the digest sent then is for that day.
    assert digest_day(datetime(2026, 12, 1, 23, 30, tzinfo=UTC), "Europe/Berlin") == \
        "2026-12-02"
    assert digest_day(datetime(2026, 12, 1, 23, 30, tzinfo=UTC), "UTC") == "2026-12-01"


def test_durations_read_as_an_agent_reads_them() -> None:
    assert [words_for(timedelta(minutes=m)) for m in (-5, 40, 60, 5 * 60 + 59, 3 * 1440 + 250)
            ] == ["0 min", "40 min", "1 h", "5 h", "3 d 4 h"]


@pytest.mark.parametrize(("notifications", "says"), [
    ({"digest_at": "8:00"}, "notifications.digest_at must be a time of day as HH:MM"),
    ({"digest_at": "24:00"}, "notifications.digest_at"),
    ({"digest_at": "08:60"}, "notifications.digest_at"),
    ({"digest_at": "08:00 "}, "notifications.digest_at"),
    ({"digest_timezone": "Europe/Atlantis"}, "notifications.digest_timezone 'Europe/Atlantis'"
                                             " is not a known time zone"),
    ({"digest_timezone": "Europe"}, "is not a known time zone"),
    ({"digest_timezone": ""}, "is not a known time zone"),
    ({"digest_timezone": "../../etc/passwd"}, "is not a known time zone"),
])
def test_a_bad_digest_time_or_zone_is_a_configuration_error(
        notifications: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        config_from_dict({"notifications": notifications})


def test_the_digest_is_off_unless_a_time_is_set() -> None:
    assert config_from_dict({}).notifications.digest_at == ""
    assert config_from_dict({"notifications": {"digest_at": "23:59"}}).notifications \
        .digest_timezone == "UTC"
