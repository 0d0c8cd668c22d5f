"""The portal's pages: Jinja2 templates in `portal/pages/`, autoescaped everywhere (customer
text is shown as text, never as markup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

PAGES = Path(__file__).with_name("pages")

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PAGES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page `name` rendered with `context`; `title` names it in the browser's tab."""
    return HTMLResponse(ENV.get_template(name).render(**context), status_code=status_code)
