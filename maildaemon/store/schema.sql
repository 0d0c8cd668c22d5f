-- The ticket database as the migrations leave it (generated: see schema_dump.py).
-- Tables, then indexes, triggers and views, each sorted by name.

CREATE TABLE "_sqlite_migrations" (
    "id" INTEGER PRIMARY KEY,
    "migration_set" TEXT,
    "name" TEXT,
    "applied_at" TEXT
);

CREATE TABLE attachment_data (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL, path TEXT);

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
    , raw_id INTEGER, dedup_hash INTEGER);

CREATE TABLE bug_reports (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
    steps TEXT NOT NULL DEFAULT '',
    browser TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    os TEXT NOT NULL DEFAULT '',
    app_version TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

CREATE TABLE customers (
    email TEXT PRIMARY KEY,
    tier TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    account_manager TEXT,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE digests (
    team TEXT NOT NULL,
    address TEXT NOT NULL,
    day TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (team, address)
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    at TEXT NOT NULL,
    type TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE TABLE flood_tickets (
    address TEXT PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id)
) WITHOUT ROWID;

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
    , own_text TEXT, raw_id INTEGER, dedup_hash INTEGER);

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
    , lease_owner TEXT, cc_tos TEXT NOT NULL DEFAULT '[]');

CREATE TABLE outbox_raw (
    outbox_id INTEGER PRIMARY KEY REFERENCES outbox(id),
    raw BLOB NOT NULL
);

CREATE TABLE participants (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    address TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (ticket_id, address)
);

CREATE TABLE portal_logins (
    token_hash TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
) WITHOUT ROWID;

CREATE TABLE portal_sessions (
    session_hash TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE processed (
    id INTEGER PRIMARY KEY,
    key_hash INTEGER,
    spool_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ticket_number TEXT,
    at TEXT NOT NULL
);

CREATE TABLE purged_files (path TEXT PRIMARY KEY) WITHOUT ROWID;

CREATE TABLE "raw_messages" (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    raw BLOB NOT NULL,
    path TEXT
);

CREATE TABLE recent_openings (address TEXT NOT NULL, until TEXT NOT NULL);

CREATE TABLE recent_replies (rcpt_to TEXT NOT NULL, at TEXT NOT NULL);

CREATE TABLE recent_texts (
    key_hash INTEGER NOT NULL,
    until TEXT NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id)
);

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

CREATE TABLE related (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    other_number TEXT NOT NULL,
    PRIMARY KEY (ticket_id, other_number)
);

CREATE TABLE surveys (message_id TEXT PRIMARY KEY, ticket_id INTEGER);

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
    , status_since TEXT, reminded INTEGER NOT NULL DEFAULT 0, due_at TEXT, assignee TEXT, rating INTEGER, rating_comment TEXT, participants TEXT, tier TEXT NOT NULL DEFAULT 'free', resolution_due TEXT, first_response_at TEXT, resolved_at TEXT, response_breached INTEGER NOT NULL DEFAULT 0, resolution_breached INTEGER NOT NULL DEFAULT 0, proactive INTEGER NOT NULL DEFAULT 0, next_update_at TEXT, acked_at TEXT, duplicate_noticed_at TEXT, unverified INTEGER NOT NULL DEFAULT 0, purged_at TEXT);

CREATE TABLE timeline (
    ticket_id INTEGER NOT NULL,
    kind TEXT NOT NULL,  -- 'message' or 'event'
    row_id INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, kind, row_id)
) WITHOUT ROWID;

CREATE TABLE undeliverable (
    address TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    ticket_id INTEGER,
    at TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX attachments_ticket ON attachments(ticket_id, id);

CREATE INDEX automatic_mail_message_id ON automatic_mail(message_id)
    WHERE message_id IS NOT NULL;

CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"
    ON "_sqlite_migrations" ("migration_set", "name");

CREATE INDEX messages_message_id ON messages(message_id, ticket_id, direction)
    WHERE direction = 'inbound';

CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

CREATE INDEX outbox_rcpt ON outbox(rcpt_to, id);

CREATE INDEX participants_by_address ON participants(lower(address));

CREATE INDEX portal_logins_expiry ON portal_logins(expires_at);

CREATE INDEX portal_sessions_expiry ON portal_sessions(expires_at);

CREATE UNIQUE INDEX processed_key ON processed(key_hash) WHERE key_hash IS NOT NULL;

CREATE INDEX processed_spool ON processed(spool_id);

CREATE INDEX recent_openings_address ON recent_openings(address, until);

CREATE INDEX recent_openings_until ON recent_openings(until);

CREATE INDEX recent_replies_at ON recent_replies(at);

CREATE INDEX recent_replies_rcpt ON recent_replies(rcpt_to, at);

CREATE INDEX recent_texts_key ON recent_texts(key_hash, until);

CREATE INDEX recent_texts_until ON recent_texts(until);

CREATE INDEX rejected_ticket ON rejected_attachments(ticket_id, id);

CREATE INDEX tickets_due ON tickets(due_at) WHERE due_at IS NOT NULL;

CREATE INDEX tickets_next_update ON tickets(next_update_at)
    WHERE next_update_at IS NOT NULL;

CREATE INDEX tickets_purgeable ON tickets(closed_at)
    WHERE status = 'closed' AND purged_at IS NULL;

CREATE INDEX tickets_resolution_due ON tickets(resolution_due)
    WHERE resolved_at IS NULL AND resolution_breached = 0 AND status <> 'waiting';

CREATE INDEX tickets_response_due ON tickets(first_response_due)
    WHERE first_response_at IS NULL AND response_breached = 0;

CREATE INDEX tickets_status ON tickets(status, queue);

CREATE TRIGGER events_on_timeline AFTER INSERT ON events BEGIN
    INSERT INTO timeline VALUES (NEW.ticket_id, 'event', NEW.id);
    END;

CREATE TRIGGER messages_on_timeline AFTER INSERT ON messages BEGIN
    INSERT INTO timeline VALUES (NEW.ticket_id, 'message', NEW.id);
    END;
