"""The `[business_hours]` configuration turned into the policy's business `Calendar`.

This is the edge where the time zone database is read (`ZoneInfo`) and text becomes dates
and times, so that maildaemon/policy/businesstime.py receives a ready calendar and stays
pure. config.py validates the section by building the calendar here: what `check-config`
accepts is exactly what the worker will use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from maildaemon.policy.businesstime import Calendar

if TYPE_CHECKING:
    from maildaemon.config import BusinessHoursSection, Config

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()


def business_calendar(config: Config) -> Calendar:
    """The working week the SLA targets count in."""
    return calendar_from_section(config.business_hours)


def calendar_from_section(section: BusinessHoursSection) -> Calendar:
    """Build the calendar; ValueError names the `business_hours.` key that is wrong."""
    opens = _time_of_day(section.start, "start")
    closes = _time_of_day(section.end, "end")
    if opens >= closes:
        raise ValueError(f"business_hours.start ({section.start}) must be before"
                         f" business_hours.end ({section.end})")
    return Calendar(zone=_zone(section.timezone), working_days=_weekdays(section.days),
                    opens=opens, closes=closes, holidays=_holidays(section.holidays))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # not found: KeyError; a directory: OSError
        raise ValueError(f"business_hours.timezone {name!r} is not a known time zone"
                         " (an IANA name such as \"Europe/Berlin\")") from None


def _weekdays(names: Iterable[str]) -> frozenset[int]:
    days: set[int] = set()
    for name in names:
        key = name.strip().lower()
        if key not in DAY_NAMES:
            raise ValueError(f"business_hours.days: {name!r} is not a day name"
                             f" (one of {', '.join(DAY_NAMES)})")
        days.add(DAY_NAMES.index(key))
    if not days:
        raise ValueError("business_hours.days must name at least one working day")
    return frozenset(days)


def _time_of_day(text: str, key: str) -> time:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
        raise ValueError(f"business_hours.{key} must be a time of day as HH:MM"
                         f" (e.g. \"09:00\"), not {text!r}")
    return time.fromisoformat(text)


def _holidays(texts: Iterable[str]) -> frozenset[date]:
    days: set[date] = set()
    for text in texts:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ValueError
            days.add(date.fromisoformat(text))
        except ValueError:
            raise ValueError(f"business_hours.holidays: {text!r} is not a date as"
                             " YYYY-MM-DD (e.g. \"2026-12-25\")") from None
    return frozenset(days)
