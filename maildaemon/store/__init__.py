"""The ticket database: one module per table or concern, the SQLite `Store` composing
them, `TicketStore` and `TicketReads`, the interfaces the rest of the daemon is typed
against, and backend.py's `open_*`, where the backend is chosen.

Re-exports what callers imported from the former `maildaemon/store.py`.
"""

from maildaemon.store.backend import (
    open_backlog,
    open_customers,
    open_operator,
    open_portal,
    open_readonly,
    open_reads,
    open_store,
    open_worker_stores,
)
from maildaemon.store.dedup import HASHES_UNDER_MESSAGE_ID, KEY_HASH_PROCESSED, key_hash
from maildaemon.store.errors import STORE_ERRORS, TEMPORARY_ERRORS
from maildaemon.store.interface import (
    BacklogReads,
    ContextReads,
    CustomerDirectory,
    OperatorStore,
    OutboxStore,
    PortalStore,
    ReadOnlyTickets,
    Row,
    TicketCommands,
    TicketReads,
    TicketStore,
    WorkerStore,
)
from maildaemon.store.messages import (
    EVENTS_OF_TICKET,
    LAST_RECEIVED_MESSAGE_ID,
    MESSAGES_OF_TICKET,
)
from maildaemon.store.records import Attempt, Leased, OpenTicket, Rendered, TicketRecord
from maildaemon.store.sqlite_store import Store
from maildaemon.store.stamps import iso, parse_iso
from maildaemon.store.upkeep import RATE_WINDOW

__all__ = ["BacklogReads", "EVENTS_OF_TICKET", "HASHES_UNDER_MESSAGE_ID", "KEY_HASH_PROCESSED",
           "LAST_RECEIVED_MESSAGE_ID", "MESSAGES_OF_TICKET", "RATE_WINDOW", "TEMPORARY_ERRORS",
           "Attempt", "ContextReads", "CustomerDirectory", "Leased", "OpenTicket",
           "OperatorStore", "OutboxStore", "PortalStore", "ReadOnlyTickets",
           "Rendered", "STORE_ERRORS",
           "Row", "Store", "TicketCommands",
           "TicketReads", "TicketRecord", "TicketStore", "WorkerStore", "iso", "key_hash",
           "open_backlog", "open_customers", "open_operator", "open_portal", "open_readonly",
           "open_reads", "open_store", "open_worker_stores", "parse_iso"]
