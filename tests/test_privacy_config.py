"""The `[privacy]` keys: defaults that agree with the shipped file, bad values refused by
`check-config` with exit 78 naming the key, and what each changes."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import Config, ConfigError, config_from_dict, default_config_path
from maildaemon.policy.sensitive import KINDS
from maildaemon.privacy_config import mask_kinds
from maildaemon.worker import policy_settings
from tests.conftest import assert_check_config_refuses

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_and_the_shipped_file_agree() -> None:
    config = Config()
    assert config.privacy.mask == KINDS == ("card", "ssn", "password")
    assert config.privacy.notice is True
    shipped = tomllib.loads(default_config_path().read_text())["privacy"]
    assert tuple(shipped["mask"]) == KINDS and shipped["notice"] is True
    readme = (ROOT / "README.md").read_text()
    assert "| `privacy.mask` |" in readme and "| `privacy.notice` |" in readme


BAD = [
    ({"privacy": {"mask": ["card", "iban"]}}, "privacy.mask: unknown kind 'iban'"),
    ({"privacy": {"mask": "card"}}, "privacy.mask must be a list of strings"),
    ({"privacy": {"notice": "yes"}}, "privacy.notice must be true or false"),
    ({"privacy": {"kinds": ["card"]}}, "unknown key privacy.kinds"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m.split(" ")[0] for _, m in BAD])
def test_a_bad_value_is_a_config_error_naming_the_key(body: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_dict(body)
    assert message in str(raised.value)


def test_check_config_exits_78_naming_the_key(tmp_path: Path) -> None:
    assert_check_config_refuses(tmp_path, "[privacy]\nmask = [\"ssn\", \"dna\"]\n", "privacy.mask")


def test_what_each_key_changes() -> None:
    config = config_from_dict({"privacy": {"mask": ["ssn"], "notice": False}})
    assert mask_kinds(config.privacy) == frozenset({"ssn"})
    assert policy_settings(config).privacy_notice is False
    assert mask_kinds(config_from_dict({"privacy": {"mask": []}}).privacy) == frozenset()
