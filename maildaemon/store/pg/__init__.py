"""The ticket database on PostgreSQL (issue 15): the same entity modules as SQLite's, run
through `PgConnection` (connection.py), on the schema of schema.sql, versioned by
migrations.py, opened by store.py's `PgStore`. Chosen by `[storage] database`."""
