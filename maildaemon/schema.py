"""The ticket database's schema, as the migrations that built it, oldest first.

sqlite-utils records which have run, each in its own transaction; `Store` applies the
pending ones when it opens the database, under the write lock. A migration is never edited
once released: a change is a new one, which says why it was made. The indexes are chosen
by what the worker looks up and how often each insert lands on a random page: see the
notes on m009, m011-m015 and the README's architecture section. The shape they leave is
store/schema.sql (generated, and checked against a fresh database by a test).
"""

from __future__ import annotations

import functools
import re

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("maildaemon")
NUMBERED = re.compile(r"m(\d+)_")  # every migration's name starts with its number


def version_of(names: list[str]) -> int:
    """The schema version a list of migrations reaches: the number of the highest
    (m014_raw_messages_by_id: 14); 0 for none, as in a database nothing migrated."""
    return max((int(found.group(1)) for found in map(NUMBERED.match, names) if found),
               default=0)


@functools.cache
def code_version() -> int:
    """The version this code migrates to: every migration is pending on an empty database."""
    return version_of([m.name for m in migrations.pending(sqlite_utils.Database(memory=True))])


def database_version(db: sqlite_utils.Database) -> int:
    """The schema version the database was migrated to; it only reads (a read-only
    connection will do), so `decide` can refuse a database it cannot read correctly."""
    return version_of([m.name for m in migrations.applied(db)])


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE tickets (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            priority TEXT NOT NULL,
            queue TEXT NOT NULL,
            requester TEXT NOT NULL,
            subject TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            first_response_due TEXT,
            escalated INTEGER NOT NULL DEFAULT 0,
            waiting_on_customer INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX tickets_status ON tickets(status, queue);
        CREATE TABLE participants (
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            address TEXT NOT NULL,
            role TEXT NOT NULL,
            PRIMARY KEY (ticket_id, address)
        );
        CREATE TABLE related (
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            other_number TEXT NOT NULL,
            PRIMARY KEY (ticket_id, other_number)
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            direction TEXT NOT NULL,
            message_id TEXT,
            from_addr TEXT NOT NULL,
            to_addrs TEXT NOT NULL,
            cc_addrs TEXT NOT NULL DEFAULT '[]',
            subject TEXT NOT NULL,
            date TEXT NOT NULL,
            text TEXT NOT NULL,
            raw_sha256 TEXT,
            automated TEXT
        );
        CREATE INDEX messages_ticket ON messages(ticket_id, id);
        CREATE INDEX messages_message_id ON messages(message_id);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            at TEXT NOT NULL,
            type TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        CREATE INDEX events_ticket ON events(ticket_id, id);
        CREATE TABLE processed (
            key TEXT PRIMARY KEY,
            spool_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            ticket_number TEXT,
            at TEXT NOT NULL
        );
        CREATE INDEX processed_spool ON processed(spool_id);
        CREATE TABLE automatic_mail (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            message_id TEXT,
            from_addr TEXT NOT NULL,
            envelope_sender TEXT,
            subject TEXT NOT NULL,
            reason TEXT NOT NULL,
            raw_sha256 TEXT NOT NULL,
            spool_id TEXT NOT NULL
        );
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER REFERENCES tickets(id),
            kind TEXT NOT NULL,
            message_id TEXT NOT NULL,
            mail_from TEXT NOT NULL,
            rcpt_to TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            lease_until TEXT,
            last_error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
        -- The message apart from the row whose status changes: SQLite rewrites a whole row,
        -- blob and all, on every UPDATE (two per delivery: the lease and the outcome).
        CREATE TABLE outbox_raw (
            outbox_id INTEGER PRIMARY KEY REFERENCES outbox(id),
            raw BLOB NOT NULL
        );
        CREATE INDEX outbox_rcpt ON outbox(rcpt_to, created_at);
        """
    )


@migrations()
def m002_outbox_lease_owner(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE outbox ADD COLUMN lease_owner TEXT")


@migrations()
def m003_raw_messages(db: sqlite_utils.Database) -> None:
    # Every received message byte for byte, by content hash, written in the same transaction
    # as its ticket rows: no separate file to fsync, nothing to get out of step.
    db.execute("CREATE TABLE raw_messages (sha256 TEXT PRIMARY KEY, raw BLOB NOT NULL)")


@migrations()
def m004_attachments(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            message_row INTEGER NOT NULL REFERENCES messages(id),
            filename TEXT NOT NULL,
            content_type TEXT NOT NULL,
            declared_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            inline INTEGER NOT NULL DEFAULT 0,
            mismatch TEXT
        );
        CREATE INDEX attachments_ticket ON attachments(ticket_id, id);
        CREATE TABLE rejected_attachments (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            message_row INTEGER NOT NULL REFERENCES messages(id),
            filename TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            reason TEXT NOT NULL,
            words TEXT NOT NULL
        );
        CREATE INDEX rejected_ticket ON rejected_attachments(ticket_id, id);
        """
    )


@migrations()
def m005_large_raw_in_files(db: sqlite_utils.Database) -> None:
    # Large messages are kept as files (raw_messages.path); see store/blobs.py.
    db.execute("ALTER TABLE raw_messages ADD COLUMN path TEXT")


@migrations()
def m006_lifecycle(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN status_since TEXT;
        ALTER TABLE tickets ADD COLUMN reminded INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tickets ADD COLUMN due_at TEXT;
        ALTER TABLE tickets ADD COLUMN assignee TEXT;
        UPDATE tickets SET status_since = updated_at;
        CREATE INDEX tickets_due ON tickets(due_at) WHERE due_at IS NOT NULL;
        """
    )


@migrations()
def m007_own_text_and_ratings(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        ALTER TABLE messages ADD COLUMN own_text TEXT;
        ALTER TABLE tickets ADD COLUMN rating INTEGER;
        ALTER TABLE tickets ADD COLUMN rating_comment TEXT;
        """
    )


@migrations()
def m008_surveys(db: sqlite_utils.Database) -> None:
    # The Message-IDs of the surveys we sent, so a reply is recognised by an indexed lookup
    # (the outbox keeps no index on Message-IDs: it would cost every insert).
    db.execute("CREATE TABLE surveys (message_id TEXT PRIMARY KEY, ticket_id INTEGER)")
    db.execute("INSERT OR IGNORE INTO surveys SELECT message_id, ticket_id FROM outbox"
               " WHERE kind = 'survey'")


@migrations()
def m009_processed_by_key_hash(db: sqlite_utils.Database) -> None:
    # Imported here, not above: the store package imports this module when it opens.
    from maildaemon.store.dedup import key_hash

    db.executescript(
        """
        ALTER TABLE processed RENAME TO processed_by_text;
        CREATE TABLE processed (
            key_hash INTEGER PRIMARY KEY,
            spool_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            ticket_number TEXT,
            at TEXT NOT NULL
        );
        """
    )
    rows = db.execute("SELECT key, spool_id, outcome, ticket_number, at"
                      " FROM processed_by_text").fetchall()
    db.conn.executemany("INSERT OR IGNORE INTO processed VALUES (?, ?, ?, ?, ?)",
                        [(key_hash(r[0]), *r[1:]) for r in rows if not
                         str(r[0]).startswith("spool:")])
    db.executescript(
        """
        DROP TABLE processed_by_text;
        CREATE INDEX processed_spool ON processed(spool_id);
        """
    )


@migrations()
def m010_attachment_data(db: sqlite_utils.Database) -> None:
    # Accepted files' bytes like raw messages': small ones here, large ones by path (see
    # store/blobs.py). Files kept before this table have no row and stay where they are.
    db.execute("CREATE TABLE attachment_data (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL,"
               " path TEXT)")


@migrations()
def m011_fewer_random_index_inserts(db: sqlite_utils.Database) -> None:
    # Found by the 1M-ticket benchmark: every index keyed by something random (an address,
    # a Message-ID) costs one page written per insert once it outgrows the page cache.
    # - The auto-reply rate limit counted outbox rows by recipient (an index as large as
    #   the outbox): it now counts a table holding only the last hour, pruned by the sweep.
    # - Our own outgoing Message-IDs are recognised by their HMAC, never looked up: only
    #   received messages need the Message-ID index.
    db.executescript(
        """
        CREATE TABLE recent_replies (rcpt_to TEXT NOT NULL, at TEXT NOT NULL);
        CREATE INDEX recent_replies_rcpt ON recent_replies(rcpt_to, at);
        CREATE INDEX recent_replies_at ON recent_replies(at);
        INSERT INTO recent_replies SELECT rcpt_to, created_at FROM outbox
            WHERE created_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 hour');
        DROP INDEX outbox_rcpt;
        DROP INDEX messages_message_id;
        CREATE INDEX messages_message_id ON messages(message_id)
            WHERE direction = 'inbound';
        """
    )


@migrations()
def m012_message_id_index_covers_the_ticket(db: sqlite_utils.Database) -> None:
    # A reply's In-Reply-To finds its ticket from the index alone, without reading the
    # message row (a random page of the largest table). `direction` is in it only so that
    # SQLite sees the index covers the query.
    db.executescript(
        """
        DROP INDEX messages_message_id;
        CREATE INDEX messages_message_id ON messages(message_id, ticket_id, direction)
            WHERE direction = 'inbound';
        """
    )


@migrations()
def m013_processed_in_arrival_order(db: sqlite_utils.Database) -> None:
    # Keyed by the hash itself, the table's rows sat in random order: every message read
    # and wrote a random page of a table far larger than the page cache (the processed
    # lookup was the slowest statement at a million tickets). Rows now follow arrival, and
    # only a compact index of the hashes is random.
    db.executescript(
        """
        ALTER TABLE processed RENAME TO processed_by_hash;
        CREATE TABLE processed (
            id INTEGER PRIMARY KEY,
            key_hash INTEGER NOT NULL,
            spool_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            ticket_number TEXT,
            at TEXT NOT NULL
        );
        INSERT INTO processed (key_hash, spool_id, outcome, ticket_number, at)
            SELECT key_hash, spool_id, outcome, ticket_number, at FROM processed_by_hash
            ORDER BY at;
        DROP TABLE processed_by_hash;
        CREATE UNIQUE INDEX processed_key ON processed(key_hash);
        CREATE INDEX processed_spool ON processed(spool_id);
        """
    )


@migrations()
def m014_raw_messages_by_id(db: sqlite_utils.Database) -> None:
    # Received messages found by row id, kept in arrival order: no index of their hashes,
    # which every message inserted into at a random place (see store/blobs.py).
    db.executescript(
        """
        CREATE TABLE raw_by_id (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL,
            raw BLOB NOT NULL,
            path TEXT
        );
        INSERT INTO raw_by_id (sha256, raw, path)
            SELECT sha256, raw, path FROM raw_messages ORDER BY rowid;
        CREATE INDEX raw_by_id_sha256 ON raw_by_id(sha256);  -- for this migration only
        ALTER TABLE messages ADD COLUMN raw_id INTEGER;
        ALTER TABLE automatic_mail ADD COLUMN raw_id INTEGER;
        UPDATE messages SET raw_id = (SELECT id FROM raw_by_id r
                                      WHERE r.sha256 = messages.raw_sha256)
            WHERE raw_sha256 IS NOT NULL;
        UPDATE automatic_mail SET raw_id = (SELECT id FROM raw_by_id r
                                            WHERE r.sha256 = automatic_mail.raw_sha256);
        DROP INDEX raw_by_id_sha256;
        DROP TABLE raw_messages;
        ALTER TABLE raw_by_id RENAME TO raw_messages;
        """
    )


@migrations()
def m015_participants_on_the_ticket(db: sqlite_utils.Database) -> None:
    # Who may join a ticket is fixed when it opens; the ticket row carries the list too,
    # so a reply's participant check reads no page of the participants index (a random
    # one, at a million tickets). The table stays, for the commands and their roles.
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN participants TEXT;
        UPDATE tickets SET participants = (
            SELECT json_group_array(address) FROM (
                SELECT address FROM participants p WHERE p.ticket_id = tickets.id
                ORDER BY p.rowid));
        """
    )


@migrations()
def m016_dedup_hash_on_the_message(db: sqlite_utils.Database) -> None:
    # A message with a Message-ID is a duplicate if a message stored under that Message-ID
    # has the same dedup hash. The Message-ID index is the one the message is about to be
    # inserted into, so the check reads the page the insert writes; the processed table's
    # hash index was a second random page of a large index, read and written by every
    # message. It now holds only the keys of mail without a Message-ID (and those written
    # before this migration, whose messages have no dedup_hash: see Store.received_before).
    db.executescript(
        """
        ALTER TABLE messages ADD COLUMN dedup_hash INTEGER;
        ALTER TABLE automatic_mail ADD COLUMN dedup_hash INTEGER;
        CREATE INDEX automatic_mail_message_id ON automatic_mail(message_id)
            WHERE message_id IS NOT NULL;
        ALTER TABLE processed RENAME TO processed_all_keyed;
        CREATE TABLE processed (
            id INTEGER PRIMARY KEY,
            key_hash INTEGER,
            spool_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            ticket_number TEXT,
            at TEXT NOT NULL
        );
        INSERT INTO processed (id, key_hash, spool_id, outcome, ticket_number, at)
            SELECT id, key_hash, spool_id, outcome, ticket_number, at
            FROM processed_all_keyed ORDER BY id;
        DROP TABLE processed_all_keyed;
        CREATE UNIQUE INDEX processed_key ON processed(key_hash) WHERE key_hash IS NOT NULL;
        CREATE INDEX processed_spool ON processed(spool_id);
        """
    )


@migrations()
def m017_ticket_timeline(db: sqlite_utils.Database) -> None:
    # A ticket's messages and events, listed together and clustered by ticket: a reply to an
    # old ticket wrote one entry into messages(ticket_id) and three into events(ticket_id),
    # two indexes, so two pages at random places of a large database; the timeline's
    # entries of one ticket sit side by side, one page. Kept by triggers, so no insert can
    # forget it; read by Store.messages_of/events_of, the sweep and agents' replies.
    # Messages and events are never deleted or moved to another ticket; a change that does
    # either must change the timeline with them.
    db.executescript(
        """
        CREATE TABLE timeline (
            ticket_id INTEGER NOT NULL,
            kind TEXT NOT NULL,  -- 'message' or 'event'
            row_id INTEGER NOT NULL,
            PRIMARY KEY (ticket_id, kind, row_id)
        ) WITHOUT ROWID;
        INSERT INTO timeline SELECT ticket_id, 'message', id FROM messages;
        INSERT INTO timeline SELECT ticket_id, 'event', id FROM events;
        CREATE TRIGGER messages_on_timeline AFTER INSERT ON messages BEGIN
            INSERT INTO timeline VALUES (NEW.ticket_id, 'message', NEW.id);
        END;
        CREATE TRIGGER events_on_timeline AFTER INSERT ON events BEGIN
            INSERT INTO timeline VALUES (NEW.ticket_id, 'event', NEW.id);
        END;
        DROP INDEX messages_ticket;
        DROP INDEX events_ticket;
        """
    )


@migrations()
def m018_outbox_cc_tos(db: sqlite_utils.Database) -> None:
    # An agent's reply to a ticket's people is one message: To the requester (rcpt_to, so
    # `outbox ls` and the rows written before still read the same), Cc the others, all
    # envelope recipients of one relay transaction. One row per participant made a reply to
    # a 10,000-address ticket into 10,000 deliveries of the same bytes. A JSON list.
    db.execute("ALTER TABLE outbox ADD COLUMN cc_tos TEXT NOT NULL DEFAULT '[]'")


@migrations()
def m019_digests(db: sqlite_utils.Database) -> None:
    # The daily digest: the last day each team address received it, so that a job run
    # twice in a day (a restart just after the hour, `maildaemon digest` by hand) queues
    # nothing twice. One row per team and address, moved forward: it never grows.
    db.executescript(
        """
        CREATE TABLE digests (
            team TEXT NOT NULL,
            address TEXT NOT NULL,
            day TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            PRIMARY KEY (team, address)
        );
        """
    )


@migrations()
def m020_customers(db: sqlite_utils.Database) -> None:
    # The customer directory (issue 12): each sender's tier, looked up once per message by
    # its lower-cased address, the primary key, so one read of one index page path. Without
    # rowid: the table is its own index, nothing else to write on an import.
    db.executescript(
        """
        CREATE TABLE customers (
            email TEXT PRIMARY KEY,
            tier TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            account_manager TEXT,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID;
        """
    )


@migrations()
def m021_bug_reports(db: sqlite_utils.Database) -> None:
    # The fields of a bug report (issue 12, point 7) read from the customer's own text:
    # one row per bug ticket only, keyed by the ticket's id (the rowid: one lookup for
    # `show`, nothing to index). "" is a field not given; a follow-up fills those.
    db.executescript(
        """
        CREATE TABLE bug_reports (
            ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
            steps TEXT NOT NULL DEFAULT '',
            browser TEXT NOT NULL DEFAULT '',
            device TEXT NOT NULL DEFAULT '',
            os TEXT NOT NULL DEFAULT '',
            app_version TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m022_sla(db: sqlite_utils.Database) -> None:
    # Issue 12's SLA clocks on the ticket: the requester's tier when it opened, the
    # resolution due time (first_response_due exists), when each clock stopped (the
    # first agent answer; the first resolution or closing) and whether the sweep has
    # reported each breach, so that an alert goes out once per target per ticket. The two
    # partial indexes hold only the tickets whose clock still runs (a few, however large
    # the database), so the sweep finds what is due without reading every ticket; the
    # resolution one leaves out tickets waiting on the customer (the clock is paused).
    # Tickets from before: the tier from the customer directory, the clocks from their
    # events, no resolution target (none was promised), and breaches that happened
    # before this version counted by the report but not alerted.
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN tier TEXT NOT NULL DEFAULT 'free';
        ALTER TABLE tickets ADD COLUMN resolution_due TEXT;
        ALTER TABLE tickets ADD COLUMN first_response_at TEXT;
        ALTER TABLE tickets ADD COLUMN resolved_at TEXT;
        ALTER TABLE tickets ADD COLUMN response_breached INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tickets ADD COLUMN resolution_breached INTEGER NOT NULL DEFAULT 0;
        UPDATE tickets SET tier = coalesce(
            (SELECT c.tier FROM customers c WHERE c.email = lower(tickets.requester)), 'free');
        UPDATE tickets SET resolved_at = (
            SELECT min(e.at) FROM timeline t JOIN events e ON e.id = t.row_id
            WHERE t.ticket_id = tickets.id AND t.kind = 'event' AND e.type = 'status'
              AND (e.detail LIKE '%-> resolved%' OR e.detail LIKE '%-> closed%'));
        UPDATE tickets SET resolved_at = coalesce(closed_at, status_since)
            WHERE resolved_at IS NULL AND status IN ('resolved', 'closed');
        UPDATE tickets SET first_response_at = (
            SELECT min(e.at) FROM timeline t JOIN events e ON e.id = t.row_id
            WHERE t.ticket_id = tickets.id AND t.kind = 'event' AND e.type = 'agent_reply');
        UPDATE tickets SET first_response_at = coalesce(
            min(first_response_at, resolved_at), first_response_at, resolved_at);
        UPDATE tickets SET response_breached = 1 WHERE first_response_at IS NULL
            AND first_response_due < strftime('%Y-%m-%dT%H:%M:%SZ', 'now');
        CREATE INDEX tickets_response_due ON tickets(first_response_due)
            WHERE first_response_at IS NULL AND response_breached = 0;
        CREATE INDEX tickets_resolution_due ON tickets(resolution_due)
            WHERE resolved_at IS NULL AND resolution_breached = 0 AND status <> 'waiting';
        """
    )


@migrations()
def m023_proactive_updates(db: sqlite_utils.Database) -> None:
    # Premium and enterprise customers hear from us while nobody of ours writes (issue 12,
    # point 6): `proactive` marks their tickets when they open, `next_update_at` is when the
    # sweep looks at one next (NULL: not while the customer does not wait on us). Found
    # through a partial index, as `due_at` is: the sweep reads only what is due.
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN proactive INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tickets ADD COLUMN next_update_at TEXT;
        CREATE INDEX tickets_next_update ON tickets(next_update_at)
            WHERE next_update_at IS NOT NULL;
        """
    )


@migrations()
def m024_undeliverable(db: sqlite_utils.Database) -> None:
    # Bounces (issue 13, point 2): an address a permanent failure (5.x.x) of our mail
    # marked undeliverable, one row per address (the key, so the worker's check of a
    # sender and the outbox's of a recipient are one probe of a table that is usually
    # empty); the mark goes when the address writes to us again. `outbox_rcpt` finds our
    # latest mail to an address, for a bounce that returns none of our headers: one index
    # entry more per queued mail, none read on the hot path.
    db.executescript(
        """
        CREATE TABLE undeliverable (
            address TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            detail TEXT NOT NULL,
            ticket_id INTEGER,
            at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX outbox_rcpt ON outbox(rcpt_to, id);
        """
    )


@migrations()
def m025_limits_and_duplicates(db: sqlite_utils.Database) -> None:
    # Issue 13, points 3 and 4 (store/limits.py). The per-ticket limit reads when the
    # ticket last confirmed a message, and a duplicate, on its own row (no lookup of its
    # own). A flood is counted in `recent_openings`, one row per message that asked for
    # a new ticket, and the duplicate rule finds the ticket a text opened in
    # `recent_texts`: both keep only their window (the sweep prunes them by `until`), so
    # they stay a few cached pages. `flood_tickets` is each flooding address's ticket.
    # `recent_replies` now keeps a day, for `autoreply.max_per_day`.
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN acked_at TEXT;
        ALTER TABLE tickets ADD COLUMN duplicate_noticed_at TEXT;
        CREATE TABLE recent_openings (address TEXT NOT NULL, until TEXT NOT NULL);
        CREATE INDEX recent_openings_address ON recent_openings(address, until);
        CREATE INDEX recent_openings_until ON recent_openings(until);
        CREATE TABLE recent_texts (
            key_hash INTEGER NOT NULL,
            until TEXT NOT NULL,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id)
        );
        CREATE INDEX recent_texts_key ON recent_texts(key_hash, until);
        CREATE INDEX recent_texts_until ON recent_texts(until);
        CREATE TABLE flood_tickets (
            address TEXT PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id)
        ) WITHOUT ROWID;
        """
    )


@migrations()
def m026_unverified_tickets(db: sqlite_utils.Database) -> None:
    # Issue 13, point 5: a ticket opened by a mail whose From address our MTA did not vouch
    # for (policy/authenticity.py) is marked for agents. Never looked up by it, so no index.
    db.execute("ALTER TABLE tickets ADD COLUMN unverified INTEGER NOT NULL DEFAULT 0")


@migrations()
def m027_retention(db: sqlite_utils.Database) -> None:
    # Retention (issue 13, point 8): `purge --closed-before` and `[storage] retention_days`
    # remove a closed ticket's messages, raw bytes, files and events and keep its row as a
    # tombstone (number, dates, queue; `purged_at` set), so its number is never reused.
    # The sweep finds closed tickets not yet purged through a partial index. A file whose
    # row went in a purge is named in `purged_files` in the same transaction and unlinked
    # after the commit, so a crash between the two leaves a name to retry, never a file
    # nobody knows of.
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN purged_at TEXT;
        CREATE INDEX tickets_purgeable ON tickets(closed_at)
            WHERE status = 'closed' AND purged_at IS NULL;
        CREATE TABLE purged_files (path TEXT PRIMARY KEY) WITHOUT ROWID;
        """
    )


@migrations()
def m028_portal(db: sqlite_utils.Database) -> None:
    # Issue 19: the customer portal's login links and sessions. Only a SHA-256 of each
    # token is kept (the token is in the customer's mail and cookie only), so a copy of the
    # database logs nobody in. Expired rows are deleted by the portal as it goes.
    db.executescript(
        """
        CREATE TABLE portal_logins (
            token_hash TEXT PRIMARY KEY,
            email TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        ) WITHOUT ROWID;
        CREATE INDEX portal_logins_expiry ON portal_logins(expires_at);
        CREATE TABLE portal_sessions (
            session_hash TEXT PRIMARY KEY,
            email TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX portal_sessions_expiry ON portal_sessions(expires_at);
        """
    )


@migrations()
def m029_participants_by_address(db: sqlite_utils.Database) -> None:
    # Issue 19: the portal finds a customer's tickets by address (login, "My tickets", the
    # API's list), compared in lower case. Every requester is a participant (and a purged
    # ticket keeps neither), so this one index serves them all; one more insert per
    # participant on the worker's path (bench/README.md, "participants index").
    db.execute("CREATE INDEX participants_by_address ON participants(lower(address))")
