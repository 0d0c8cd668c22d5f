"""reload.py: which keys changed, which need a restart, what a reload refuses, and the
copies the worker reads. The daemon's side is tests/test_reload_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import Config, config_from_dict
from maildaemon.in_force import (
    IN_FORCE_NAME,
    PIN_ENV,
    TEMPLATES_IN_FORCE,
    pins_for_env,
    pins_from_env,
    write_in_force,
    write_templates_in_force,
)
from maildaemon.reload import (
    Reload,
    changed_keys,
    describe_changes,
    keep_restart_values,
    needs_restart,
    prepare,
)
from maildaemon.templates_config import override_sources

RESTART = [
    ("smtp.host", True), ("smtp.port", True), ("smtp.protocol", True),
    ("smtp.socket", True), ("smtp.socket_mode", True), ("smtp.socket_group", True),
    ("storage.data_dir", True), ("storage.database", True), ("metrics.listen", True),
    ("smtp.timeout", False), ("smtp.max_message_size", False), ("smtp.hostname", False),
    ("storage.retention_days", False), ("routing.order", False), ("queues.billing", False),
    ("staff.addresses", False), ("templates.directory", False), ("outbound.relay_host", False),
    ("metrics", False), ("smtpx.port", False),
]


@pytest.mark.parametrize(("key", "restart"), RESTART)
def test_which_keys_need_a_restart(key: str, restart: bool) -> None:
    assert needs_restart(key) is restart


BASE: dict[str, Any] = {"storage": {"data_dir": "/srv/md"}}
CHANGES: list[tuple[dict[str, Any], list[str]]] = [
    ({}, []),
    ({"smtp": {"port": 2626}}, ["smtp.port"]),
    ({"smtp": {"timeout": 60.0}}, ["smtp.timeout"]),
    ({"routing": {"order": ["tech", "support", "billing", "bugs", "escalation"]}},
     ["routing.order"]),
    ({"staff": {"addresses": ["kim@healthsync.com"]}}, ["staff.addresses"]),
    ({"teams": {"billing": ["ben@healthsync.com"]}}, ["teams.billing"]),  # added
    ({"queues": {"support": "support", "help": "support", "tech": "tech", "bugs": "bugs",
                 "billing": "billing", "escalation": "escalation"}}, ["queues.help"]),
    ({"queues": {"support": "support", "tech": "tech", "bugs": "bugs", "billing": "billing",
                 "urgent": "escalation"}, "routing": {"default_queue": "tech"}},
     ["queues.escalation", "queues.urgent", "routing.default_queue"]),
    ({"sla": {"high": 2}}, ["sla.high"]),
    ({"storage": {"data_dir": "/srv/other"}, "autoreply": {"max_per_hour": 3}},
     ["autoreply.max_per_hour", "storage.data_dir"]),
]


def config_of(extra: dict[str, Any]) -> Config:
    raw = {**BASE, **extra}
    return config_from_dict(raw, source="<test>")


@pytest.mark.parametrize(("extra", "keys"), CHANGES)
def test_changed_keys(extra: dict[str, Any], keys: list[str]) -> None:
    assert changed_keys(config_of({}), config_of(extra)) == keys


def test_restart_values_are_kept_and_the_rest_taken() -> None:
    old = config_of({})
    new = config_of({"smtp": {"host": "0.0.0.0", "port": 25, "timeout": 60.0},
                     "storage": {"data_dir": "/srv/other", "retention_days": 30}})
    kept = keep_restart_values(old, new)
    assert (kept.smtp.host, kept.smtp.port, kept.storage.data_dir) == (
        "127.0.0.1", 2525, "/srv/md")
    assert kept.smtp.timeout == 60.0 and kept.storage.retention_days == 30
    assert changed_keys(old, kept) == ["smtp.timeout", "storage.retention_days"]


def test_the_worker_takes_the_edges_restart_values_and_checked_templates() -> None:
    edge = config_of({})
    worker = config_of({"smtp": {"port": 2626}, "storage": {"data_dir": "/srv/other"}})
    environ = {PIN_ENV: pins_for_env(edge)}
    pinned = pins_from_env(worker, environ)
    assert (pinned.smtp.port, pinned.storage.data_dir) == (2525, "/srv/md")
    assert pinned.templates.directory == str(Path("/srv/md") / TEMPLATES_IN_FORCE)
    assert pins_from_env(worker, {}) == worker  # a worker run by hand reads its own file


def write(tmp: Path, text: str) -> Path:
    path = tmp / "maildaemon.toml"
    path.write_text(f'[storage]\ndata_dir = "{tmp / "data"}"\n{text}')
    return path


REFUSED = [
    ("[smtp\n", "not valid TOML"),
    ("[smtp]\ntimeout = -1\n", "smtp.timeout"),
    ("[smtp]\nprot = 25\n", "smtp.prot"),
    ("[templates]\ndirectory = \"/nonexistent/templates\"\n", "templates.directory"),
    ("[routing]\norder = [\"nosuch\"]\n", "routing.order"),
]


@pytest.mark.parametrize(("text", "named"), REFUSED)
def test_a_broken_file_is_refused_naming_the_problem(tmp_path: Path, text: str,
                                                     named: str) -> None:
    result = prepare(write(tmp_path, text), config_of({}))
    assert result.refused and result.config is None and named in result.error
    assert result.status().startswith("reload refused: ") and "\n" not in result.status()


def test_a_template_that_does_not_render_is_refused_naming_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "closed.html").write_text("<p>{{ number }</p>\n")
    path = write(tmp_path, f'[templates]\ndirectory = "{folder}"\n')
    result = prepare(path, config_of({}))
    assert result.refused
    assert str(folder / "closed.html") in result.error and "line 1" in result.error
    (folder / "closed.html").write_text("<p>{{ no_such_value }}</p>\n")
    result = prepare(path, config_of({}))
    assert "closed.html" in result.error and "no_such_value" in result.error


def test_an_accepted_file_says_what_changed_and_what_waits(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    current = config_of({})
    path = write(tmp_path, f'[templates]\ndirectory = "{folder}"\n'
                           '[smtp]\nport = 2626\n[autoreply]\nmax_per_hour = 3\n')
    first = prepare(path, current, templates={})
    assert first.config is not None and first.config.smtp.port == 2525
    assert first.need_restart == ("smtp.port", "storage.data_dir")  # data_dir: tmp_path's
    assert "autoreply.max_per_hour" in first.changed and "templates.directory" in first.changed
    assert "autoreply.max_per_hour (5 -> 3)" in describe_changes(current, first)
    assert first.status().startswith("reloaded; restart needed for ")
    (folder / "ack.txt").write_text("Hello {{ number }}\n")
    second = prepare(path, first.config, templates=first.templates)
    assert second.changed == ("templates/ack.txt",)
    assert second.env is not None
    assert second.env.get_template("ack.txt").render(number="HS-1") == "Hello HS-1\n"
    assert second.env.get_template("ack.html").filename is not None  # the shipped one


def test_the_in_force_copies(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert write_in_force(data, "[mail]\n").read_text() == "[mail]\n"
    assert (data / IN_FORCE_NAME).stat().st_mode & 0o077 == 0
    folder = tmp_path / "templates"
    folder.mkdir()
    links = []
    for n in range(3):
        (folder / "ack.txt").write_text(f"version {n}\n")
        section = config_of({"templates": {"directory": str(folder)}}).templates
        link = write_templates_in_force(data, override_sources(section))
        links.append(link.resolve().name)
        assert (link / "ack.txt").read_text() == f"version {n}\n"
    kept = sorted(p.name for p in data.glob("templates.*") if not p.is_symlink())
    assert kept == sorted(links[1:])  # the one in force and the one before it
    empty = write_templates_in_force(data, None)
    assert list(empty.iterdir()) == []


def test_a_refusal_and_its_status_line() -> None:
    refusal = Reload(error="x.toml: not valid TOML: Expected ']'\n at line 3")
    assert refusal.refused
    assert refusal.status() == "reload refused: x.toml: not valid TOML: Expected ']' at line 3"
    assert json.loads(pins_for_env(Config()))["smtp.port"] == 2525
