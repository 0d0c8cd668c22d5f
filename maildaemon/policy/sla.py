"""SLA targets and due times: the arithmetic behind "we will reply within 2 hours".

The stable API (the new-ticket decision, escalation, the SLA sweep, proactive updates and
the report all use it; nothing else computes a due time):

- `Target(amount, unit)`: one promise, parsed from configuration by `parse_target`
  ("4h", "2bh", "5bd", "14d", or a plain number of clock hours); `words()` is how the
  customer reads it ("2 hours", "5 business days"), `due(start, calendar)` when it falls due.
- `SlaTable`: the targets by kind (first response, resolution), priority and tier: a
  default per priority, and per-tier overrides ([sla] in the configuration).
- `SlaSettings`: the table and the business calendar together (`sla_of(settings)` in
  the policy; `maildaemon.sla_config.sla_settings(config)` at the edges).
- `due_times(priority, tier, start, sla) -> DueTimes(first_response, resolution)`: both
  due times of a ticket opened (or re-prioritised, as escalation does) at `start`.
- `resumed_due(due, paused_since, now, target, calendar)`: the resolution due time once a
  ticket stops waiting on the customer; `resolution_target(...)` picks the target.
- `late_by(due, now)`: "2 hours 5 minutes"; `next_target(...)`: what the customer waits
  for next (first response, else resolution), for proactive updates.

Units: `h` clock hours, `d` clock days (24 hours each), both counted around the clock
in UTC; `bh` business hours and `bd` business days, counted in the calendar's working
time (policy/businesstime.py: a business day is one opening-to-closing span's worth).
A paused resolution clock is measured in its target's own unit, so a ticket that waited
over a weekend gets no business time back for the weekend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from maildaemon.domain import PolicySettings, Priority, Tier
from maildaemon.policy.businesstime import (
    Calendar,
    add_business_days,
    add_business_hours,
    add_clock_hours,
    business_hours_between,
)

MAX_DAYS = 3660  # no target lies further ahead than ten years (in any unit)


class Unit(StrEnum):
    HOURS = "h"
    DAYS = "d"
    BUSINESS_HOURS = "bh"
    BUSINESS_DAYS = "bd"


class Kind(StrEnum):
    """Which promise: the first answer, or the solution."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


UNIT_WORDS = {Unit.HOURS: ("hour", "hours"), Unit.DAYS: ("day", "days"),
              Unit.BUSINESS_HOURS: ("business hour", "business hours"),
              Unit.BUSINESS_DAYS: ("business day", "business days")}
# Every way a unit may be written after the number, lower-cased.
UNIT_NAMES = {"h": Unit.HOURS, "hour": Unit.HOURS, "hours": Unit.HOURS,
              "d": Unit.DAYS, "day": Unit.DAYS, "days": Unit.DAYS,
              "bh": Unit.BUSINESS_HOURS, "business hour": Unit.BUSINESS_HOURS,
              "business hours": Unit.BUSINESS_HOURS,
              "bd": Unit.BUSINESS_DAYS, "business day": Unit.BUSINESS_DAYS,
              "business days": Unit.BUSINESS_DAYS}
TARGET_TEXT = re.compile(r"\s*(\d{1,6}(?:\.\d{1,6})?)\s*([a-z]+(?: [a-z]+)?)\s*")


@dataclass(frozen=True)
class Target:
    """One promise: `amount` of `unit` from the moment its clock starts."""

    amount: float
    unit: Unit = Unit.HOURS

    def __post_init__(self) -> None:
        days = self.amount / (24 if self.unit in (Unit.HOURS, Unit.BUSINESS_HOURS) else 1)
        # Written so that NaN fails it too.
        if isinstance(self.amount, bool) or not 0 < days <= MAX_DAYS:
            raise ValueError(f"a target must be more than 0 and at most {MAX_DAYS} days,"
                             f" not {self.amount!r} {self.unit}")

    @property
    def business(self) -> bool:
        """Counted in working time (the calendar's), not around the clock."""
        return self.unit in (Unit.BUSINESS_HOURS, Unit.BUSINESS_DAYS)

    def due(self, start: datetime, calendar: Calendar) -> datetime:
        """When the target falls due for a clock started at `start` (UTC)."""
        if self.unit == Unit.HOURS:
            return add_clock_hours(start, self.amount)
        if self.unit == Unit.DAYS:
            return add_clock_hours(start, self.amount * 24)
        if self.unit == Unit.BUSINESS_HOURS:
            return add_business_hours(start, self.amount, calendar)
        return add_business_days(start, self.amount, calendar)

    def words(self) -> str:
        """The customer's words: "2 hours", "1 business day", "30 minutes"."""
        if self.unit == Unit.HOURS and self.amount < 1:
            minutes = max(1, round(self.amount * 60))
            return f"{minutes} minute" + ("" if minutes == 1 else "s")
        one, many = UNIT_WORDS[self.unit]
        return f"{_number(self.amount)} {one if self.amount == 1 else many}"

    def __str__(self) -> str:
        """As the configuration writes it: "4h", "5bd"."""
        return f"{_number(self.amount)}{self.unit.value}"


def _number(amount: float) -> str:
    return str(int(amount)) if float(amount).is_integer() else f"{amount:g}"


def parse_target(value: object) -> Target:
    """A target as configuration writes it: a number (clock hours, as `[sla]` always
    meant), or text such as "4h", "2 bh", "5bd", "14 days", "5 business days"."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        return Target(float(value), Unit.HOURS)
    if isinstance(value, str):
        found = TARGET_TEXT.fullmatch(value.lower())
        if found and found.group(2) in UNIT_NAMES:
            return Target(float(found.group(1)), UNIT_NAMES[found.group(2)])
    raise ValueError(f"{value!r} is not a duration: a number of hours, or a number with"
                     " h (hours), d (days), bh (business hours) or bd (business days),"
                     " e.g. \"4h\", \"5bd\"")


def _targets(**values: str) -> dict[Priority, Target]:
    return {Priority(name): parse_target(text) for name, text in values.items()}


@dataclass(frozen=True)
class TierTargets:
    """What one tier is promised differently; a priority not named here has the default."""

    first_response: Mapping[Priority, Target] = field(default_factory=dict)
    resolution: Mapping[Priority, Target] = field(default_factory=dict)


# The support page: first response critical 1 h, high 4 h (2 h for premium and enterprise),
# medium 24 h, low 48 h; resolution critical 4 h, high 24 h, medium 5 business days, low
# 14 days. Only "business days" is said in business time; the rest reads around the clock.
DEFAULT_FIRST_RESPONSE = _targets(critical="1h", high="4h", medium="24h", low="48h")
DEFAULT_RESOLUTION = _targets(critical="4h", high="24h", medium="5bd", low="14d")
DEFAULT_TIERS = {Tier.PREMIUM: TierTargets(first_response=_targets(high="2h")),
                 Tier.ENTERPRISE: TierTargets(first_response=_targets(high="2h"))}


@dataclass(frozen=True)
class SlaTable:
    """Every target: a default per kind and priority, and per-tier overrides."""

    first_response: Mapping[Priority, Target] = field(
        default_factory=lambda: dict(DEFAULT_FIRST_RESPONSE))
    resolution: Mapping[Priority, Target] = field(
        default_factory=lambda: dict(DEFAULT_RESOLUTION))
    tiers: Mapping[Tier, TierTargets] = field(default_factory=lambda: dict(DEFAULT_TIERS))

    def target(self, kind: Kind, priority: Priority, tier: Tier) -> Target:
        """The target of `kind` for a ticket of this priority from a customer of this tier."""
        override = self.tiers.get(tier)
        if kind == Kind.FIRST_RESPONSE:
            chosen = override.first_response if override else {}
            return chosen.get(priority) or self.first_response[priority]
        chosen = override.resolution if override else {}
        return chosen.get(priority) or self.resolution[priority]


@dataclass(frozen=True)
class SlaSettings:
    """The targets and the working week their business units count in."""

    table: SlaTable = field(default_factory=SlaTable)
    calendar: Calendar = field(default_factory=Calendar)

    def target(self, kind: Kind, priority: Priority, tier: Tier) -> Target:
        return self.table.target(kind, priority, tier)


def sla_of(settings: PolicySettings) -> SlaSettings:
    """The decision's SLA settings: those the worker built from [sla] and
    [business_hours]; without them (a test's hand-made settings), the default table with
    `sla_hours` as the first-response targets in clock hours, as before issue 12."""
    if settings.sla is not None:
        return settings.sla
    table = SlaTable(first_response={p: Target(float(h)) for p, h in settings.sla_hours.items()})
    return SlaSettings(table=table)


class DueTimes(NamedTuple):
    first_response: datetime
    resolution: datetime


def due_times(priority: Priority, tier: Tier, start: datetime, sla: SlaSettings) -> DueTimes:
    """Both due times of a ticket of `priority` from a `tier` customer, clocks started at
    `start`: when it opens, or when escalation changes its priority."""
    return DueTimes(sla.target(Kind.FIRST_RESPONSE, priority, tier).due(start, sla.calendar),
                    sla.target(Kind.RESOLUTION, priority, tier).due(start, sla.calendar))


def resumed_due(due: datetime, paused_since: datetime, now: datetime, target: Target,
                calendar: Calendar) -> datetime:
    """The resolution due time after waiting on the customer from `paused_since` to `now`:
    later by the time waited, counted in the target's unit (business time for a business
    target). Waiting that began after the target was already missed gives nothing back."""
    if now <= paused_since or paused_since >= due:
        return due
    if not target.business:
        return due + (now - paused_since)
    waited = business_hours_between(paused_since, now, calendar)
    return add_business_hours(due, waited, calendar) if waited > 0 else due


def resolution_target(priority: Priority, tier: Tier, sla: SlaSettings) -> Target:
    return sla.target(Kind.RESOLUTION, priority, tier)


def late_by(due: datetime, now: datetime) -> str:
    """How late, in clock time, to the minute: "3 days 2 hours", "45 minutes"."""
    minutes = max(0, int((now - due) / timedelta(minutes=1)))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n} {unit}" + ("" if n == 1 else "s")
             for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    return " ".join(parts[:2]) or "less than a minute"


class NextTarget(NamedTuple):
    kind: Kind
    due: datetime


def next_target(first_response_due: datetime | None, first_response_at: datetime | None,
                resolution_due: datetime | None, resolved_at: datetime | None,
                waiting: bool) -> NextTarget | None:
    """What the customer waits for next: the first response until it came, then the
    resolution (none while the ticket waits on the customer: that clock is paused)."""
    if first_response_at is None and first_response_due is not None:
        return NextTarget(Kind.FIRST_RESPONSE, first_response_due)
    if resolved_at is None and resolution_due is not None and not waiting:
        return NextTarget(Kind.RESOLUTION, resolution_due)
    return None


class Verdict(StrEnum):
    MET = "met"
    MISSED = "missed"
    OPEN = "open"  # not met yet, and not yet due (or paused before it fell due)


def verdict(due: datetime | None, stopped: datetime | None, now: datetime,
            paused_since: datetime | None = None) -> Verdict | None:
    """Whether one target of a ticket was met, as of `now`: by when its clock `stopped`
    (the first answer; the first resolution), else by whether it is past due. A clock
    paused (`paused_since`: waiting on the customer) before its due time is still open.
    None without a target (tickets from before issue 12 have no resolution target)."""
    if due is None:
        return None
    if stopped is not None:
        return Verdict.MET if stopped <= due else Verdict.MISSED
    if paused_since is not None:
        return Verdict.OPEN if paused_since < due else Verdict.MISSED
    return Verdict.OPEN if now <= due else Verdict.MISSED
