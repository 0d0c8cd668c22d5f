"""Where the shipped `templates/` and `config/` live.

In the repository they sit at the top level, where people edit them; the wheel carries a copy
inside the package (`maildaemon/_shipped/`, see pyproject.toml). We look inside the package
first with importlib.resources, so an installed daemon never depends on the checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped_dir(kind: str) -> Path:
    packaged = files("maildaemon").joinpath("_shipped", kind)
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / kind


def shipped_file(kind: str, name: str) -> Path:
    return shipped_dir(kind) / name
