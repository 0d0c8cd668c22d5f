"""SIGHUP: read the configuration again, check it as `check-config` does, and say what changed.

Both processes of `serve` reload (reload_edge.py for the SMTP edge, reload_worker.py for the
worker), and both go through `prepare` here:

1. the file is read once and parsed and validated like at start (`ConfigError` names the
   key), and every template is rendered with sample values, the operator's overrides
   included (templates_config.py). Any failure refuses the whole reload: the
   configuration in force stays, whole; nothing is half applied.
2. the new configuration is compared with the one in force, key by key (`changed_keys`,
   dotted names as in the file, `smtp.port`, `queues.billing`).
3. settings that only a restart can change (what the listener is bound to, where the data
   lives, the metrics listener: `needs_restart`) keep the value in force
   (`keep_restart_values`), and are named in the log so that an operator knows a restart is
   still due. Everything else applies: routing order, limits, staff, SLA and priority rules,
   customers' settings, templates, timeouts and sizes of new connections, the outbound relay.

The edge checks first and signals the worker only after it accepted the file, and the worker
reads not the operator's file but the copy the edge accepted (in_force.py, in the data
directory), so a file edited again, or broken, after the edge's check never reaches it; a
worker restarted later starts from that copy too. Its restart-only settings are pinned to
the edge's, so both processes always agree on where the data is.

The log names the keys that changed and the old and new values of numbers and switches
only: never a string that could be an address list or a secret.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from maildaemon.config import Config, ConfigError, config_from_dict, describe
from maildaemon.render import environment
from maildaemon.templates_config import (
    changed_templates,
    fingerprints,
    override_sources,
    template_problems,
)

# Settings the running processes cannot take over: the listener's address, socket and
# protocol, where the data lives, the metrics and portal listeners. Any `smtp.socket*` key too (the
# socket's mode and group are set when it is created).
RESTART_KEYS = frozenset({
    "smtp.host", "smtp.port", "smtp.protocol", "storage.data_dir", "storage.database",
    "metrics.listen", "portal.listen",
})
RESTART_PREFIXES = ("smtp.socket",)
REASON_CHARS = 300  # what STATUS= shows of a refusal; the log has all of it
_ABSENT = object()


def needs_restart(key: str) -> bool:
    return key in RESTART_KEYS or key.startswith(RESTART_PREFIXES)


def flatten(config: Config) -> dict[str, Any]:
    """Every setting under its dotted name (`smtp.port`); a table of tables (`[queues]`,
    `[teams]`, `[sla]`) one level down (`queues.billing`)."""
    flat: dict[str, Any] = {}
    for section, body in describe(config).items():
        if section == "source":
            continue
        if isinstance(body, dict):
            for key, value in body.items():
                flat[f"{section}.{key}"] = value
        else:
            flat[section] = body
    return flat


def changed_keys(old: Config, new: Config) -> list[str]:
    """The dotted names whose value differs, added or removed, sorted."""
    before, after = flatten(old), flatten(new)
    return sorted(key for key in before.keys() | after.keys()
                  if before.get(key, _ABSENT) != after.get(key, _ABSENT))


def keep_restart_values(old: Config, new: Config) -> Config:
    """`new` with every restart-only setting as it is in `old`."""
    return pin(new, restart_values(old))


def restart_values(config: Config) -> dict[str, Any]:
    """The restart-only settings this configuration has, by dotted name."""
    return {key: value for key, value in flatten(config).items() if needs_restart(key)}


def pin(config: Config, values: dict[str, Any]) -> Config:
    """`config` with these dotted settings replaced (those it has; others are ignored)."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, _, name = key.partition(".")
        body = getattr(config, section, None)
        if dataclasses.is_dataclass(body) and name in {f.name for f in dataclasses.fields(body)}:
            sections.setdefault(section, {})[name] = value
    return dataclasses.replace(config, **{
        section: dataclasses.replace(getattr(config, section), **names)
        for section, names in sections.items()})


@dataclass(frozen=True)
class Reload:
    """What a reload found: the configuration to apply, or why none."""

    config: Config | None = None
    changed: tuple[str, ...] = ()  # applied
    need_restart: tuple[str, ...] = ()  # differ in the file, kept as they are
    error: str = ""
    env: jinja2.Environment | None = None  # the templates as checked, to render with
    sources: dict[str, tuple[str, str]] | None = None  # and their text, as read
    text: str = ""  # the file as read and checked
    templates: dict[str, str] = dataclasses.field(default_factory=dict)  # fingerprints

    @property
    def refused(self) -> bool:
        return self.config is None

    def status(self) -> str:
        """The STATUS= line for systemctl status."""
        if self.refused:
            return f"reload refused: {' '.join(self.error.split())[:REASON_CHARS]}"
        return "reloaded" + (f"; restart needed for {', '.join(self.need_restart)}"
                             if self.need_restart else "")


def prepare(path: Path, current: Config, templates: dict[str, str] | None = None,
            pins: dict[str, Any] | None = None) -> Reload:
    """Read, validate and compare; never raises for the file's fault. `templates`: the
    fingerprints of the overrides in force, to name the ones that changed; `pins`:
    settings to take from elsewhere (the worker's, from the edge)."""
    try:
        text = path.read_text(encoding="utf-8")
        new = config_from_dict(tomllib.loads(text), source=str(path))
        new = pin(new, pins or {})
    except FileNotFoundError:
        return Reload(error=f"{path}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        return Reload(error=f"{path}: cannot read: {exc}")
    except tomllib.TOMLDecodeError as exc:
        return Reload(error=f"{path}: not valid TOML: {exc}")
    except ConfigError as exc:
        return Reload(error=str(exc))
    try:
        sources = override_sources(new.templates)
    except (OSError, UnicodeDecodeError) as exc:
        return Reload(error=f"templates.directory: cannot read a template: {exc}")
    env = environment(overrides=sources)
    prints = fingerprints(sources)
    problems = template_problems(new, env)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Reload(error=problems[0] + more)
    changed = changed_keys(current, new)
    edited = changed_templates(templates, prints) if templates is not None else []
    return Reload(
        config=keep_restart_values(current, new),
        changed=tuple(key for key in changed if not needs_restart(key)) + tuple(edited),
        need_restart=tuple(key for key in changed if needs_restart(key)),
        env=env, text=text, templates=prints, sources=sources)


def describe_changes(old: Config, result: Reload) -> str:
    """`key (old -> new)` for numbers and switches, the bare key for anything else."""
    if result.config is None:
        return ""
    before, after = flatten(old), flatten(result.config)
    shown = []
    for key in result.changed:
        was, now = before.get(key, _ABSENT), after.get(key, _ABSENT)
        plain = all(isinstance(v, int | float) for v in (was, now))
        shown.append(f"{key} ({was} -> {now})" if plain else key)
    return ", ".join(shown) or "nothing"
