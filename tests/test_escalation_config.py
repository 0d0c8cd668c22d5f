"""The `[escalation]` and `[premium]` keys: defaults, and bad values refused by
`check-config` with exit 78 naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import Config, ConfigError, config_from_dict, default_config_path
from maildaemon.policy.escalation import DEFAULT_PHRASES
from tests.conftest import assert_check_config_refuses, check_config


def test_defaults_and_the_shipped_file_agree() -> None:
    config = Config()
    assert config.escalation.phrases == DEFAULT_PHRASES
    assert config.escalation.manager == ""
    assert config.escalation.auto_on_first_response_breach is False
    assert config.premium.update_interval == 2.0
    shipped = tomllib.loads(default_config_path().read_text())
    assert tuple(shipped["escalation"]["phrases"]) == DEFAULT_PHRASES
    assert shipped["escalation"]["manager"] == ""
    assert shipped["escalation"]["auto_on_first_response_breach"] is False
    assert shipped["premium"]["update_interval"] == 2.0


BAD = [
    ({"escalation": {"phrases": ["escalate this", "  "]}}, "escalation.phrases: '  '"),
    ({"escalation": {"phrases": ["go"]}}, "escalation.phrases: 'go' is too short"),
    ({"escalation": {"phrases": "escalate this"}}, "escalation.phrases must be a list"),
    ({"escalation": {"manager": "the boss"}}, "escalation.manager 'the boss'"),
    ({"escalation": {"auto_on_first_response_breach": "yes"}},
     "escalation.auto_on_first_response_breach must be true or false"),
    ({"escalation": {"queue": "urgent"}}, "unknown key escalation.queue"),
    ({"premium": {"update_interval": 0}}, "premium.update_interval must be more than 0"),
    ({"premium": {"update_interval": -1.5}}, "premium.update_interval must be more than 0"),
    ({"premium": {"update_interval": "2 days"}}, "premium.update_interval must be a number"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m.split(" ")[0] for _, m in BAD])
def test_a_bad_value_is_a_config_error_naming_the_key(body: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_dict(body)
    assert message in str(raised.value)


def test_check_config_exits_78_naming_the_key(tmp_path: Path) -> None:
    assert_check_config_refuses(tmp_path, "[premium]\nupdate_interval = 0\n",
                                "premium.update_interval")


def test_check_config_renders_the_new_templates(tmp_path: Path) -> None:
    result = check_config(tmp_path, f"[storage]\ndata_dir = \"{tmp_path / 'data'}\"\n"
                          "[escalation]\nmanager = \"lead@healthsync.com\"\n"
                          "phrases = [\"bitte eskalieren\"]\n")
    assert result.returncode == 0, result.stderr
    assert '"manager": "lead@healthsync.com"' in result.stdout
