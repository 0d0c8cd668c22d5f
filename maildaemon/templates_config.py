"""`[templates] directory`: the operator's own templates, and the check that they render.

A file in the directory overrides the shipped template of the same name (`ack.txt`,
`ack.html`, ...) one by one; a template the directory lacks comes from the package (a
Jinja2 ChoiceLoader). So an upgrade that ships a new template works with an old
directory, and an operator changes only the mails they care about. A relative path
resolves against the working directory, like every path in the file. A directory that
does not exist is a configuration error (exit 78 naming `templates.directory`), never a
silent fall back to the shipped set.

`template_problems` renders every template with sample values, as `check-config` and a
reload both do before a template reaches a customer: the first error of each template
with the file it is in (the operator's or the shipped one) and its line.
"""

from __future__ import annotations

import hashlib
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from maildaemon.render import TEMPLATES, Renderer, environment, sample_variables

if TYPE_CHECKING:
    from maildaemon.config import Config


@dataclass(frozen=True)
class TemplatesSection:
    # A folder whose files override the shipped templates one by one; "" uses only those.
    directory: str = ""


def overrides_dir(section: TemplatesSection) -> Path | None:
    return Path(section.directory).resolve() if section.directory else None


def check(section: TemplatesSection) -> None:
    """ValueError naming the key when the directory is not one we can read."""
    path = overrides_dir(section)
    if path is not None and not path.is_dir():
        raise ValueError(f"templates.directory {section.directory!r}: no such directory"
                         f" ({path})")


def environment_for(section: TemplatesSection) -> jinja2.Environment:
    """The templates as the daemon renders them: the operator's first, then the shipped.

    The operator's files are read now, once: an edit takes effect at the next reload
    (after `template_problems` passed), never half-way through one. OSError or
    UnicodeDecodeError when a file cannot be read."""
    return environment(overrides=override_sources(section))


def fingerprints(sources: dict[str, tuple[str, str]] | None) -> dict[str, str]:
    """File name -> a digest of its text: what a reload compares to say which changed."""
    return {name: hashlib.sha256(text.encode()).hexdigest()[:16]
            for name, (text, _) in (sources or {}).items()}


def changed_templates(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """`templates/NAME` for each override added, removed or edited."""
    return [f"templates/{name}" for name in sorted(before.keys() | after.keys())
            if before.get(name) != after.get(name)]


def override_sources(section: TemplatesSection) -> dict[str, tuple[str, str]] | None:
    """File name -> (its text, its path) for each template the directory overrides."""
    path = overrides_dir(section)
    if path is None:
        return None
    known = {f"{name}.{ext}" for name in TEMPLATES for ext in ("txt", "html")}
    return {p.name: (p.read_text(encoding="utf-8"), str(p)) for p in sorted(path.iterdir())
            if p.name in known and p.is_file()}


def template_problems(config: Config, env: jinja2.Environment | None = None) -> list[str]:
    """Each template rendered with sample values; the first error of each, naming its file.

    `env`: the environment to try (a reload checks the very one it will use); else the
    configuration's. Empty when every template renders; never raises for a template's
    fault (a syntax error, an unknown variable, a file that is not UTF-8)."""
    if env is None:
        try:
            env = environment_for(config.templates)
        except (OSError, UnicodeDecodeError) as exc:
            return [f"templates.directory: cannot read {config.templates.directory}: {exc}"]
    renderer = Renderer(config.mail.domain, b"check-config", env)
    problems = []
    for name in TEMPLATES:
        try:
            renderer.render(name, number="HS-000000", queue="support",
                            queue_address=config.queue_address("support"),
                            to="customer@example.org", ticket_subject="Sample",
                            now=datetime.now(UTC), in_reply_to="<sample@example.org>",
                            variables=sample_variables())
        except Exception as exc:  # any error is the template's to report
            problems.append(f"template {name}: {_where(exc)}"
                            f"{type(exc).__name__}: {_first_line(exc)}")
    return problems


def unused_overrides(section: TemplatesSection) -> list[str]:
    """Files in the directory that override nothing (a typo such as `ack.text`)."""
    path = overrides_dir(section)
    if path is None or not path.is_dir():
        return []
    known = {f"{name}.{ext}" for name in TEMPLATES for ext in ("txt", "html")}
    return sorted(p.name for p in path.iterdir() if p.is_file() and p.name not in known)


def _where(exc: Exception) -> str:
    """`FILE line N: ` for the template file the error is in, as far as Jinja2 tells: a
    syntax error names it; a render error has the template's frame in its traceback
    (Jinja2 rewrites tracebacks to point into the template)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name} line {exc.lineno}: "
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.endswith((".txt", ".html"))]
    return f"{frames[-1].filename} line {frames[-1].lineno}: " if frames else ""


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "(no message)"
