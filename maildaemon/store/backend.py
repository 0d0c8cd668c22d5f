"""Which backend holds the tickets, chosen in one place: SQLite in `data_dir`, or
PostgreSQL when `[storage] database` names one (issue 15; store/pg/)."""

from __future__ import annotations

from maildaemon.config import Config
from maildaemon.schema import code_version
from maildaemon.sqlite import Checkpointer
from maildaemon.storage_config import password
from maildaemon.store.backlog import SqliteBacklog
from maildaemon.store.errors import STORE_ERRORS
from maildaemon.store.interface import (
    BacklogReads,
    CustomerDirectory,
    OperatorStore,
    PortalStore,
    ReadOnlyTickets,
    TicketReads,
    TicketStore,
)
from maildaemon.store.ops import OperatorOnSqlite
from maildaemon.store.pg.backlog import PgBacklog
from maildaemon.store.pg.connection import PgConnection
from maildaemon.store.pg.migrations import database_version
from maildaemon.store.pg.store import PgStore
from maildaemon.store.portal import PortalOnSqlite
from maildaemon.store.readonly import ReadOnlyStore
from maildaemon.store.sqlite_store import Store

# 64 MiB of page cache for the ticket database (SQLite's default is 2): lookups and inserts
# under random keys (ticket numbers, Message-IDs) into a large database re-read fewer index
# pages (a few percent on the million-ticket benchmark over 32 MiB; 256-512 MiB measured no
# better). It fills only as a large database is used; message bytes of 1 MB and more never pass
# through it. The spool's connections keep the small default: their pages are mostly
# message bytes.
WORKER_CACHE_KIB = 65536
# Server connections of one portal process: its pages and API calls each hold one for a
# statement or a transaction, a few milliseconds; more threads than this wait their turn.
PORTAL_POOL = 8


def postgresql(config: Config, migrate: bool = True, pool_size: int = 0) -> PgStore | None:
    """The PostgreSQL store when `[storage] database` is set, else None (SQLite)."""
    if not config.storage.database.strip():
        return None
    return PgStore(config.storage.database.strip(), config.data_dir,
                   password(config.storage.database_password_file), migrate=migrate,
                   pool_size=pool_size)


def storage_problem(config: Config) -> str | None:
    """Why the configured PostgreSQL cannot be used, in words (a refused or failed
    connection, a schema newer than this code), or None: also for SQLite, and for an empty
    database or an older schema, which opening creates or migrates. At start and in
    `check-config` (exit 78): a node that cannot reach its database at all is misconfigured;
    one that loses it later keeps accepting mail into its spool."""
    url = config.storage.database.strip()
    if not url:
        return None
    try:
        conn = PgConnection.open(url, password(config.storage.database_password_file),
                                 timeout=5)
    except STORE_ERRORS as exc:
        return f"storage.database: cannot connect: {str(exc).strip() or type(exc).__name__}"
    try:
        have, want = database_version(conn), code_version()
    except STORE_ERRORS as exc:
        return f"storage.database: cannot read the schema version: {exc}"
    finally:
        conn.close()
    if have is not None and have > want:
        return (f"storage.database is at schema version {have}, newer than this"
                f" maildaemon's {want}: upgrade maildaemon")
    return None


def shared_secret(config: Config, fresh: str) -> str | None:
    """The HMAC key every node of a PostgreSQL installation shares (kept in the database);
    None on SQLite, whose key is `data_dir/secret.key`."""
    pg = postgresql(config)
    if pg is None:
        return None
    try:
        return pg.shared_secret(fresh)
    finally:
        pg.close()


def open_reads(config: Config) -> TicketReads:
    """The read side of the read-only commands. On SQLite it is `Store`'s, which creates
    and migrates a data directory not there yet, as these commands always have (on a new
    installation `tickets` lists nothing rather than failing; `decide` is the command that
    must not write, and opens `readonly.ReadOnlyStore`)."""
    pg = postgresql(config)
    return pg.reads if pg is not None else Store(config.data_dir).reads


def open_store(config: Config) -> TicketStore:
    """The ticket store of a command (sweep, status, reply, flush, ingest): one
    connection, durable commits, migrated on opening."""
    return postgresql(config) or Store(config.data_dir)


def open_customers(config: Config) -> CustomerDirectory:
    """The customer directory, for `maildaemon customers` (migrated on opening)."""
    return postgresql(config) or Store(config.data_dir)


def open_worker_stores(config: Config,
                       checkpointer: Checkpointer) -> tuple[TicketStore, TicketStore]:
    """The worker's and the sender's stores inside the worker process. On SQLite the
    worker's connection gets a larger page cache and the sender's skips fsync (a lost
    "sent" mark repeats a send at least once, it loses nothing), both checkpointed by the
    process's checkpointer thread; another backend may ignore these."""
    first = postgresql(config)
    if first is not None:
        second = postgresql(config)
        assert second is not None
        return first, second
    return (Store(config.data_dir, cache_kib=WORKER_CACHE_KIB, checkpointer=checkpointer),
            Store(config.data_dir, synchronous="NORMAL", checkpointer=checkpointer))


def open_readonly(config: Config) -> ReadOnlyTickets:
    """The database as it is, for `maildaemon decide`: nothing can be written through it,
    nothing is created or migrated (raises `NoDatabase` or `SchemaTooOld` instead)."""
    return postgresql(config, migrate=False) or ReadOnlyStore(config.data_dir)


def open_operator(config: Config) -> OperatorStore:
    """`stats` and `outbox retry` (store/ops.py), on a migrated database of their own."""
    return OperatorOnSqlite(postgresql(config) or Store(config.data_dir))


def open_backlog(config: Config) -> BacklogReads:
    """The outbox backlog for health and metrics, as the SMTP edge reads it (a thread)."""
    if config.storage.database.strip():
        return PgBacklog(config.storage.database.strip(),
                         password(config.storage.database_password_file))
    return SqliteBacklog(config.data_dir)


def open_portal(config: Config) -> PortalStore:
    """The portal's store (portal/context.py), migrated on opening: on SQLite one per
    thread (`shared_by_threads` False), on PostgreSQL one that all the portal's threads
    share, on a pool of PORTAL_POOL connections."""
    return PortalOnSqlite(postgresql(config, pool_size=PORTAL_POOL) or Store(config.data_dir))


def shared_by_threads(config: Config) -> bool:
    """Whether `open_portal`'s store serves every thread (PostgreSQL's pool)."""
    return bool(config.storage.database.strip())
