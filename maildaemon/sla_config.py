"""The `[sla]` configuration turned into the policy's `SlaTable`, and the SLA settings.

    [sla]                    # first response by priority: a number is clock hours,
    high = 4                 # or a duration "4h", "2bh", "5bd", "14d"
    [sla.resolution]         # resolution by priority
    medium = "5bd"
    [sla.premium]            # a tier's own first-response targets ...
    high = 2
    [sla.premium.resolution] # ... and resolution targets
    high = "12h"

Every key is optional: what is not written keeps the support page's default (policy/sla.py),
tier overrides included, so `[sla] high = 3` leaves premium's 2 hours alone. An unknown
priority or tier, or a duration that is not one, is refused with the key named: config.py
calls `sla_table` while loading, so what `check-config` accepts is what the worker uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from maildaemon.calendar_config import business_calendar
from maildaemon.domain import Priority, Tier
from maildaemon.policy.businesstime import Calendar
from maildaemon.policy.sla import (
    DEFAULT_FIRST_RESPONSE,
    DEFAULT_RESOLUTION,
    DEFAULT_TIERS,
    SlaSettings,
    SlaTable,
    Target,
    TierTargets,
    Unit,
    parse_target,
)

if TYPE_CHECKING:
    from maildaemon.config import Config

PRIORITIES = tuple(p.value for p in Priority)
TIERS = tuple(t.value for t in Tier)
RESOLUTION = "resolution"


def sla_settings(config: Config) -> SlaSettings:
    """The targets and the working week they count business time in."""
    return SlaSettings(table=config.sla, calendar=business_calendar(config))


def sla_table(body: Mapping[str, Any]) -> SlaTable:
    """`[sla]` over the defaults; ValueError names the `sla.` key that is wrong."""
    first = dict(DEFAULT_FIRST_RESPONSE)
    resolution = dict(DEFAULT_RESOLUTION)
    tiers = {tier: (dict(t.first_response), dict(t.resolution))
             for tier, t in DEFAULT_TIERS.items()}
    for key, value in body.items():
        if key in PRIORITIES:
            first[Priority(key)] = _target(value, f"sla.{key}")
        elif key == RESOLUTION:
            resolution.update(_by_priority(value, f"sla.{key}"))
        elif key in TIERS:
            own_first, own_resolution = tiers.setdefault(Tier(key), ({}, {}))
            for inner, inner_value in _table(value, f"sla.{key}").items():
                name = f"sla.{key}.{inner}"
                if inner in PRIORITIES:
                    own_first[Priority(inner)] = _target(inner_value, name)
                elif inner == RESOLUTION:
                    own_resolution.update(_by_priority(inner_value, name))
                else:
                    raise ValueError(f"{name}: not a priority ({', '.join(PRIORITIES)})"
                                     f" nor \"{RESOLUTION}\"")
        else:
            raise ValueError(f"sla.{key}: not a priority ({', '.join(PRIORITIES)}), a tier"
                             f" ({', '.join(TIERS)}) nor \"{RESOLUTION}\"")
    return SlaTable(first_response=first, resolution=resolution,
                    tiers={tier: TierTargets(f, r) for tier, (f, r) in tiers.items()})


def _table(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a table ([{name}]), not {value!r}")
    return value


def _by_priority(value: Any, name: str) -> dict[Priority, Target]:
    targets: dict[Priority, Target] = {}
    for key, text in _table(value, name).items():
        if key not in PRIORITIES:
            raise ValueError(f"{name}.{key}: not a priority ({', '.join(PRIORITIES)})")
        targets[Priority(key)] = _target(text, f"{name}.{key}")
    return targets


def _target(value: Any, name: str) -> Target:
    try:
        return parse_target(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def as_written(table: SlaTable) -> dict[str, Any]:
    """The table as `[sla]` would write it, for `check-config` to print."""
    def row(targets: Mapping[Priority, Target]) -> dict[str, str]:
        return {str(p): str(t) for p, t in targets.items()}

    shown: dict[str, Any] = {**row(table.first_response), RESOLUTION: row(table.resolution)}
    for tier, own in table.tiers.items():
        shown[str(tier)] = {**row(own.first_response), RESOLUTION: row(own.resolution)}
    return shown


def hours_of(target: Target, calendar: Calendar) -> float:
    """A target as a number of hours (`PolicySettings.sla_hours`, from before issue 12):
    clock hours, or the business hours a business target counts."""
    per_day = calendar.day_length.total_seconds() / 3600
    return target.amount * {Unit.HOURS: 1.0, Unit.DAYS: 24.0, Unit.BUSINESS_HOURS: 1.0,
                            Unit.BUSINESS_DAYS: per_day}[target.unit]
