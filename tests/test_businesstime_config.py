"""`[business_hours]`: the working week from configuration, and its mistakes named by key."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from maildaemon.calendar_config import business_calendar
from maildaemon.config import ConfigError, config_from_dict, load_config
from maildaemon.policy.businesstime import add_business_hours
from maildaemon.resources import shipped_file
from tests.conftest import check_config


def test_defaults_are_monday_to_friday_nine_to_five_utc() -> None:
    cal = business_calendar(config_from_dict({}))
    assert cal.zone == ZoneInfo("UTC")
    assert cal.working_days == frozenset({0, 1, 2, 3, 4})
    assert (cal.opens, cal.closes, cal.holidays) == (time(9), time(17), frozenset())


def test_the_shipped_file_states_the_defaults() -> None:
    shipped = load_config(shipped_file("config", "maildaemon.toml"))
    assert business_calendar(shipped) == business_calendar(config_from_dict({}))
    assert "[business_hours]" in shipped_file("config", "maildaemon.toml").read_text()


def test_a_configured_week_is_the_calendar_used() -> None:
    config = config_from_dict({"business_hours": {
        "timezone": "Europe/Berlin", "days": ["Sun", "mon", " tue "], "start": "08:30",
        "end": "12:00", "holidays": ["2026-12-28"]}})
    cal = business_calendar(config)
    assert cal.zone == ZoneInfo("Europe/Berlin")
    assert cal.working_days == frozenset({6, 0, 1})
    assert (cal.opens, cal.closes) == (time(8, 30), time(12))
    assert cal.holidays == frozenset({date(2026, 12, 28)})
    # Saturday 26 December, 2 hours: Sunday 08:30-10:30 Berlin (the 28th is a holiday).
    due = add_business_hours(datetime(2026, 12, 26, 10, tzinfo=UTC), 2, cal)
    assert due == datetime(2026, 12, 27, 9, 30, tzinfo=UTC)


def test_holidays_may_be_toml_dates() -> None:
    import tomllib

    raw = tomllib.loads("[business_hours]\nholidays = [2026-12-25, \"2027-01-01\"]\n")
    cal = business_calendar(config_from_dict(raw))
    assert cal.holidays == frozenset({date(2026, 12, 25), date(2027, 1, 1)})


BAD = [
    ({"timezone": "Mars/Olympus"}, "business_hours.timezone 'Mars/Olympus' is not a known"),
    ({"timezone": ""}, "business_hours.timezone '' is not a known"),
    ({"days": ["mon", "funday"]}, "business_hours.days: 'funday' is not a day name"),
    ({"days": []}, "business_hours.days must name at least one working day"),
    ({"days": "mon"}, "business_hours.days must be a list of strings"),
    ({"start": "17:00", "end": "09:00"}, "business_hours.start (17:00) must be before"),
    ({"start": "09:00", "end": "09:00"}, "business_hours.start (09:00) must be before"),
    ({"start": "9am"}, "business_hours.start must be a time of day as HH:MM"),
    ({"end": "24:00"}, "business_hours.end must be a time of day as HH:MM"),
    ({"holidays": ["2026-02-30"]}, "business_hours.holidays: '2026-02-30' is not a date"),
    ({"holidays": ["25.12.2026"]}, "business_hours.holidays: '25.12.2026' is not a date"),
    ({"holidays": ["20261225"]}, "business_hours.holidays: '20261225' is not a date"),
    ({"weekends": ["sat"]}, "unknown key business_hours.weekends"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m.split(" ")[0] + repr(b)
                                                        for b, m in BAD])
def test_a_bad_week_is_a_config_error_naming_the_key(body: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_dict({"business_hours": body})
    assert message in str(raised.value)


@pytest.mark.parametrize(("lines", "message"), [
    ('timezone = "Europe/Atlantis"', "business_hours.timezone 'Europe/Atlantis'"),
    ('days = ["mon", "someday"]', "business_hours.days: 'someday' is not a day name"),
    ('start = "18:00"', "business_hours.start (18:00) must be before business_hours.end"),
    ('holidays = ["2026-13-01"]', "business_hours.holidays: '2026-13-01' is not a date"),
])
def test_check_config_exits_78_on_a_bad_week(tmp_path: Path, lines: str, message: str) -> None:
    result = check_config(tmp_path, f"[storage]\ndata_dir = \"{tmp_path / 'data'}\"\n"
                          f"[business_hours]\n{lines}\n")
    assert result.returncode == 78, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_and_prints_a_good_week(tmp_path: Path) -> None:
    result = check_config(tmp_path, f"[storage]\ndata_dir = \"{tmp_path / 'data'}\"\n"
                          "[business_hours]\ntimezone = \"America/New_York\"\n"
                          "holidays = [\"2026-11-26\"]\n")
    assert result.returncode == 0, result.stderr
    assert '"timezone": "America/New_York"' in result.stdout
    assert '"2026-11-26"' in result.stdout
