"""What every route of the portal shares: the configuration, the installation's secret, the
spool, the ticket store (one connection per thread: Starlette runs plain functions on a pool of
threads) and the way to wake the worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from maildaemon.config import Config
from maildaemon.portal.ratelimit import RateLimits
from maildaemon.portal_config import public_url, read_api_token
from maildaemon.spool import Spool
from maildaemon.store import PortalStore, open_portal
from maildaemon.store.backend import shared_by_threads
from maildaemon.worker import installation_secret


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class PortalContext:
    config: Config
    secret: bytes
    wake: Callable[[], None] = lambda: None
    clock: Callable[[], datetime] = utc_now
    api_token: str | None = None
    base_url: str = ""
    limits: RateLimits = field(default_factory=RateLimits)
    _local: threading.local = field(default_factory=threading.local)
    _shared: PortalStore | None = None  # on PostgreSQL: one store, its pool for all threads
    _opening: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_config(cls, config: Config, wake: Callable[[], None] = lambda: None,
                    clock: Callable[[], datetime] = utc_now) -> PortalContext:
        return cls(config=config, secret=installation_secret(config), wake=wake, clock=clock,
                   api_token=read_api_token(config.portal),
                   base_url=public_url(config.portal))

    def store(self) -> PortalStore:
        """The ticket database for this thread (opened on first use): its own connection on
        SQLite; on PostgreSQL the one store all threads share, on its pool."""
        store: PortalStore | None = getattr(self._local, "store", None)
        if store is None:
            with self._opening:
                store = self._shared or open_portal(self.config)
                if shared_by_threads(self.config):
                    self._shared = store
            self._local.store = store
        return store

    def spool(self) -> Spool:
        """This thread's connection to the spool."""
        spool: Spool | None = getattr(self._local, "spool", None)
        if spool is None:
            spool = Spool(self.config.data_dir, self.config.spool.max_attempts)
            spool.leave_checkpoints_to_others()
            self._local.spool = spool
        return spool
