"""`autoreply.max_per_day`, `[flood]` and `[duplicates]`: defaults, the shipped file, the
policy settings they give, and bad values refused by `check-config` with exit 78 naming
the key."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import Config, ConfigError, config_from_dict, default_config_path
from maildaemon.render import TEMPLATES
from maildaemon.worker import policy_settings
from tests.conftest import assert_check_config_refuses, check_config


def test_defaults_and_the_shipped_file_agree() -> None:
    config = Config()
    shipped = tomllib.loads(default_config_path().read_text())
    assert config.autoreply.max_per_day == shipped["autoreply"]["max_per_day"] == 20
    assert config.flood.max_new_tickets == shipped["flood"]["max_new_tickets"] == 20
    assert config.flood.window_minutes == shipped["flood"]["window_minutes"] == 10.0
    assert config.duplicates.window_minutes == shipped["duplicates"]["window_minutes"] == 1440
    assert config.duplicates.match == shipped["duplicates"]["match"] == "subject_and_text"


def test_the_policy_gets_the_settings() -> None:
    settings = policy_settings(config_from_dict({
        "autoreply": {"max_per_day": 7}, "flood": {"max_new_tickets": 0, "window_minutes": 2.5},
        "duplicates": {"window_minutes": 30, "match": "text"}}))
    assert (settings.autoreply_max_per_day, settings.flood_max_new_tickets) == (7, 0)
    assert settings.flood_window == timedelta(minutes=2.5)
    assert settings.duplicate_window == timedelta(minutes=30)
    assert settings.duplicate_match == "text"


BAD = [
    ({"autoreply": {"max_per_day": -1}}, "autoreply.max_per_day must not be negative"),
    ({"autoreply": {"max_per_day": 2.5}}, "autoreply.max_per_day must be a whole number"),
    ({"flood": {"max_new_tickets": -3}}, "flood.max_new_tickets must not be negative"),
    ({"flood": {"window_minutes": 0}}, "flood.window_minutes must be more than 0"),
    ({"flood": {"window_minutes": float("nan")}}, "flood.window_minutes must be more than 0"),
    ({"flood": {"per_hour": 3}}, "unknown key flood.per_hour"),
    ({"duplicates": {"window_minutes": -5}}, "duplicates.window_minutes must be more than 0"),
    ({"duplicates": {"window_minutes": 10_000_000}},
     "duplicates.window_minutes must be more than 0 and at most"),
    ({"duplicates": {"match": "fuzzy"}}, "duplicates.match must be one of subject_and_text"),
    ({"duplicates": {"match": 1}}, "duplicates.match must be a string"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m.split(" ")[0] for _, m in BAD])
def test_a_bad_value_is_a_config_error_naming_the_key(body: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_dict(body)
    assert message in str(raised.value)


def test_check_config_exits_78_naming_the_key(tmp_path: Path) -> None:
    assert_check_config_refuses(tmp_path, "[duplicates]\nmatch = \"similar\"\n", "duplicates.match")


def test_check_config_renders_the_new_templates(tmp_path: Path) -> None:
    assert {"flood", "duplicate_received"} <= set(TEMPLATES)  # check-config renders each
    result = check_config(tmp_path, f"[storage]\ndata_dir = \"{tmp_path / 'data'}\"\n"
                          "[flood]\nmax_new_tickets = 5\n")
    assert result.returncode == 0, result.stderr
    assert '"max_new_tickets": 5' in result.stdout
