"""Which backend holds the tickets, chosen in one place: a second one (PostgreSQL, issue
15) is one more implementation of the interface and one more branch here."""

from __future__ import annotations

from maildaemon.config import Config
from maildaemon.store.interface import TicketReads
from maildaemon.store.sqlite_store import Store


def open_reads(config: Config) -> TicketReads:
    """The read side of the read-only commands. On SQLite it is `Store`'s, which creates
    and migrates a data directory not there yet, as these commands always have (on a new
    installation `tickets` lists nothing rather than failing; `decide` is the command that
    must not write, and opens `readonly.ReadOnlyStore`)."""
    return Store(config.data_dir).reads
