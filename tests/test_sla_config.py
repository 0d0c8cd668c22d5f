"""`[sla]`: targets by priority and tier from configuration, and their mistakes named by key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import ConfigError, config_from_dict, load_config
from maildaemon.domain import Priority, Tier
from maildaemon.policy.sla import Kind, SlaTable, Target, Unit
from maildaemon.resources import shipped_file
from tests.conftest import check_config

C, H, M, L = Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW


def targets(config_text: str) -> SlaTable:
    return config_from_dict(tomllib.loads(config_text)).sla


def test_the_defaults_are_the_support_pages() -> None:
    table = config_from_dict({}).sla
    first = {p: table.target(Kind.FIRST_RESPONSE, p, Tier.FREE) for p in Priority}
    assert first == {C: Target(1), H: Target(4), M: Target(24), L: Target(48)}
    done = {p: table.target(Kind.RESOLUTION, p, Tier.FREE) for p in Priority}
    assert done == {C: Target(4), H: Target(24), M: Target(5, Unit.BUSINESS_DAYS),
                    L: Target(14, Unit.DAYS)}
    for tier in (Tier.PREMIUM, Tier.ENTERPRISE):
        assert table.target(Kind.FIRST_RESPONSE, H, tier) == Target(2)
    assert table.target(Kind.FIRST_RESPONSE, H, Tier.PLUS) == Target(4)


def test_the_shipped_file_states_the_defaults() -> None:
    assert load_config(shipped_file("config", "maildaemon.toml")).sla == config_from_dict({}).sla


def test_plain_numbers_keep_meaning_clock_hours() -> None:
    """`[sla]` as written before issue 12 reads the same: first responses in hours."""
    table = targets("[sla]\ncritical = 0.5\nhigh = 3\nmedium = 12.0\nlow = 72\n")
    assert [table.target(Kind.FIRST_RESPONSE, p, Tier.FREE) for p in (C, H, M, L)] == \
        [Target(0.5), Target(3), Target(12), Target(72)]
    assert table.target(Kind.FIRST_RESPONSE, H, Tier.PREMIUM) == Target(2)  # kept


def test_every_kind_of_override() -> None:
    table = targets('[sla]\nmedium = "8bh"\n[sla.resolution]\nlow = "30d"\n'
                    '[sla.plus]\nmedium = "4bh"\n[sla.plus.resolution]\nmedium = "3bd"\n'
                    '[sla.premium]\nhigh = "1h"\n')
    assert table.target(Kind.FIRST_RESPONSE, M, Tier.FREE) == Target(8, Unit.BUSINESS_HOURS)
    assert table.target(Kind.FIRST_RESPONSE, M, Tier.PLUS) == Target(4, Unit.BUSINESS_HOURS)
    assert table.target(Kind.RESOLUTION, M, Tier.PLUS) == Target(3, Unit.BUSINESS_DAYS)
    assert table.target(Kind.RESOLUTION, M, Tier.FREE) == Target(5, Unit.BUSINESS_DAYS)
    assert table.target(Kind.RESOLUTION, L, Tier.PLUS) == Target(30, Unit.DAYS)
    assert table.target(Kind.FIRST_RESPONSE, H, Tier.PREMIUM) == Target(1)
    assert table.target(Kind.FIRST_RESPONSE, H, Tier.ENTERPRISE) == Target(2)


BAD: list[tuple[dict[str, Any], str]] = [
    ({"urgent": 2}, "sla.urgent: not a priority (critical, high, medium, low), a tier"),
    ({"resolution": {"blocker": "1h"}}, "sla.resolution.blocker: not a priority"),
    ({"gold": {"high": 1}}, "sla.gold: not a priority"),
    ({"premium": {"urgent": 1}}, "sla.premium.urgent: not a priority"),
    ({"premium": {"resolution": {"soon": "1h"}}}, "sla.premium.resolution.soon: not a priority"),
    ({"premium": 2}, "sla.premium must be a table"),
    ({"resolution": "4h"}, "sla.resolution must be a table"),
    ({"high": "4 weeks"}, "sla.high: '4 weeks' is not a duration"),
    ({"high": "four hours"}, "sla.high: 'four hours' is not a duration"),
    ({"high": 0}, "sla.high: a target must be more than 0"),
    ({"high": -1}, "sla.high: a target must be more than 0"),
    ({"high": True}, "sla.high: True is not a duration"),
    ({"resolution": {"medium": "5bx"}}, "sla.resolution.medium: '5bx' is not a duration"),
    ({"enterprise": {"resolution": {"low": "99999d"}}},
     "sla.enterprise.resolution.low: a target must be more than 0 and at most 3660 days"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_a_bad_sla_is_a_config_error_naming_the_key(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_dict({"sla": body})
    assert message in str(raised.value)


@pytest.mark.parametrize(("lines", "message"), [
    ("[sla]\nblocker = 1", "sla.blocker: not a priority"),
    ("[sla.gold]\nhigh = 1", "sla.gold: not a priority"),
    ('[sla.resolution]\nmedium = "5 fortnights"', "sla.resolution.medium: '5 fortnights'"),
])
def test_check_config_exits_78_on_a_bad_sla(tmp_path: Path, lines: str, message: str) -> None:
    result = check_config(tmp_path, f"[storage]\ndata_dir = \"{tmp_path / 'data'}\"\n{lines}\n")
    assert result.returncode == 78, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_prints_the_targets_as_written(tmp_path: Path) -> None:
    result = check_config(tmp_path, f"[storage]\ndata_dir = \"{tmp_path / 'data'}\"\n"
                          '[sla.plus.resolution]\nmedium = "3bd"\n')
    assert result.returncode == 0, result.stderr
    assert '"medium": "5bd"' in result.stdout and '"medium": "3bd"' in result.stdout
