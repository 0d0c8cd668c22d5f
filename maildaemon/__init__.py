"""maildaemon: inbound support email becomes tickets, durably.

The package is laid out by role (see README, "Architecture"): `policy/` holds the pure
decisions; `smtp_in`, `spool`, `parse`, `store`, `render`, `sender` and `worker` are the thin
I/O edges around it; `daemon` composes them.
"""

__version__ = "0.1.0"
