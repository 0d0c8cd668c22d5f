"""Rate limits of the portal and the API, per address and per client IP (issue 19, 4).

The `limits` library's moving window, kept in this process's memory: a restart of the portal
forgets the counts, which only ever lets someone start again from zero after a minute's
outage; several nodes (issue 15) each count their own. The numbers are deliberately few
and fixed here, not configuration: they bound abuse, not customers (a person asks for a
login link a few times an hour at most).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

RATES: dict[str, RateLimitItem] = {
    "login_address": parse("5 per 15 minutes"),   # login links asked for one address
    "login_ip": parse("30 per 15 minutes"),       # login forms posted from one client
    "api_address": parse("30 per hour"),          # tickets the app submits for one customer
    "api_ip": parse("600 per minute"),            # API calls from one client (the backend)
    "comment_address": parse("60 per hour"),      # comments and reopenings by one customer
}


class RateLimits:
    def __init__(self) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, kind: str, key: str) -> bool:
        """Count one hit of `kind` for `key`; False once its rate is exceeded."""
        return self.limiter.hit(RATES[kind], kind, key.lower())

    def retry_after(self, kind: str, key: str) -> int:
        """Whole seconds until `kind` allows `key` one more hit (Retry-After), at least 1."""
        reset = self.limiter.get_window_stats(RATES[kind], kind, key.lower()).reset_time
        return max(1, math.ceil(reset - time.time()))
