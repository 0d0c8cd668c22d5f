"""`[priority]`: the phrase lists from configuration, and their mistakes named by key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import ConfigError, config_from_dict, load_config
from maildaemon.domain import Priority, PriorityRule
from maildaemon.priority_config import PrioritySection, priority_rules
from maildaemon.resources import shipped_file
from tests.conftest import check_config


def test_the_shipped_file_states_the_defaults() -> None:
    shipped = load_config(shipped_file("config", "maildaemon.toml"))
    assert shipped.priority == PrioritySection()
    assert "[priority]" in shipped_file("config", "maildaemon.toml").read_text()


def test_a_subject_rule_is_written_with_its_prefix() -> None:
    rules = priority_rules(PrioritySection(critical=(), high=(),
                                           low=(" Subject: [Idea] ", "nice to have")))
    assert rules == (PriorityRule(Priority.LOW, "[Idea]", True),
                     PriorityRule(Priority.LOW, "nice to have", False))


BAD = [
    ({"urgent": ["asap"]}, "unknown key priority.urgent (known: critical, high, low)"),
    ({"medium": ["question"]}, "unknown key priority.medium"),
    ({"critical": "system is down"}, "priority.critical must be a list of strings"),
    ({"high": ["ok", 3]}, "priority.high must be a list of strings"),
    ({"critical": [""]}, "priority.critical: '' is not a phrase"),
    ({"low": ["subject:"]}, "priority.low: 'subject:' is not a phrase (it needs a word after "
                            "subject:)"),
    ({"high": ["!!!"]}, "priority.high: '!!!' is not a phrase"),
    ({"critical": ["data loss"], "low": ["Data  Loss"]},
     "priority.low: 'Data  Loss' is also in priority.critical"),
    ({"high": ["x" * 201]}, "priority.high: a phrase of 201 characters is longer than 200"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m.split(" ")[0] + repr(b)[:30]
                                                        for b, m in BAD])
def test_a_bad_list_is_a_config_error_naming_the_key(body: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_dict({"priority": body})
    assert message in str(raised.value)


@pytest.mark.parametrize(("lines", "message"), [
    ('urgent = ["asap"]', "unknown key priority.urgent"),
    ('low = ["subject:"]', "priority.low: 'subject:' is not a phrase"),
    ('critical = ["data loss"]\nhigh = ["DATA LOSS"]',
     "priority.high: 'DATA LOSS' is also in priority.critical"),
])
def test_check_config_exits_78_on_a_bad_list(tmp_path: Path, lines: str, message: str) -> None:
    result = check_config(tmp_path,
                          f"[storage]\ndata_dir = \"{tmp_path / 'data'}\"\n[priority]\n{lines}\n")
    assert result.returncode == 78, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_prints_the_lists_in_force(tmp_path: Path) -> None:
    result = check_config(tmp_path, f"[storage]\ndata_dir = \"{tmp_path / 'data'}\"\n[priority]\n"
                          "low = [\"subject:[Idea]\"]\n")
    assert result.returncode == 0, result.stderr
    assert '"subject:[Idea]"' in result.stdout and '"system is down"' in result.stdout
