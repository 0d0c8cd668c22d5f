"""The `[flood]` and `[duplicates]` configuration (issue 13, points 3 and 4), and the
policy settings they and `autoreply.max_per_day` give.

config.py loads the sections like every other (unknown keys are errors) and calls `check`
once; a ValueError here names the key, and config.py turns it into the ConfigError that
`check-config` reports with exit 78.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from maildaemon.policy.duplicates import MATCHES

if TYPE_CHECKING:
    from maildaemon.config import Config

MAX_WINDOW_MINUTES = 366 * 24 * 60.0  # a year: longer is a typo, and the tables grow


@dataclass(frozen=True)
class FloodSection:
    # More new tickets than this from one address within `window_minutes` is a flood:
    # its further mail joins one flood ticket instead. 0 turns the limit off.
    max_new_tickets: int = 20
    window_minutes: float = 10.0


@dataclass(frozen=True)
class DuplicatesSection:
    # A message that would open a ticket, with the same sender and text as one that
    # opened a ticket this recently, is added to that ticket; also the window of mail
    # without a Message-ID that is stored once.
    window_minutes: float = 1440.0
    # "subject_and_text", "text" (any subject) or "off" (exact duplicates only).
    match: str = "subject_and_text"


def _window(value: float, key: str) -> None:
    if not 0 < value <= MAX_WINDOW_MINUTES:  # NaN fails it too
        raise ValueError(f"{key} must be more than 0 and at most {MAX_WINDOW_MINUTES:g} "
                         f"minutes, not {value!r}")


def check(max_per_day: int, flood: FloodSection, duplicates: DuplicatesSection) -> None:
    if max_per_day < 0:
        raise ValueError(f"autoreply.max_per_day must not be negative, not {max_per_day}")
    if flood.max_new_tickets < 0:
        raise ValueError("flood.max_new_tickets must not be negative (0 turns the limit "
                         f"off), not {flood.max_new_tickets}")
    _window(flood.window_minutes, "flood.window_minutes")
    _window(duplicates.window_minutes, "duplicates.window_minutes")
    if duplicates.match not in MATCHES:
        raise ValueError(f"duplicates.match must be one of {', '.join(MATCHES)}, "
                         f"not {duplicates.match!r}")


def limit_settings(config: Config) -> dict[str, Any]:
    """The `PolicySettings` fields of the limits and the duplicate rule."""
    return {
        "autoreply_max_per_day": config.autoreply.max_per_day,
        "flood_max_new_tickets": config.flood.max_new_tickets,
        "flood_window": timedelta(minutes=config.flood.window_minutes),
        "duplicate_window": timedelta(minutes=config.duplicates.window_minutes),
        "duplicate_match": config.duplicates.match,
    }
