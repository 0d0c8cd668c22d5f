"""Upkeep: the rate limits' memory is a day (`recent_replies`), the flood and duplicate
windows' are theirs (store/limits.py); older rows only make their indexes bigger."""

from __future__ import annotations

from datetime import datetime, timedelta

from maildaemon.store import limits
from maildaemon.store.db import Db
from maildaemon.store.outbox import recent_count
from maildaemon.store.stamps import iso

RATE_WINDOW = timedelta(hours=1)  # autoreply.max_per_hour counts over this


def recent_autoreplies(conn: Db, address: str, now: datetime) -> int:
    """Mail we queued to `address` in the hour before `now` (the rate limit)."""
    return recent_count(conn, address, iso(now - RATE_WINDOW))


def forget_old_replies(conn: Db, now: datetime) -> int:
    return limits.forget(conn, now)
