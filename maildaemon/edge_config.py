"""The `[smtp]` keys of the edge's limits and inbound TLS (issue 14, points 8 and 9).

config.py loads them with the rest of `[smtp]` and calls `check` once; a ValueError names
the key, and config.py turns it into the ConfigError that `check-config` reports with exit
78. Only the shape is checked here: whether the certificate and key files can be read and
belong together is edge_tls.py's `tls_problem`, run by `check-config` and at the start of
`serve` (not by every command that loads the configuration: the key file is usually
readable by the daemon's user alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maildaemon.config import SmtpSection

MIN_HEADER_SIZE = 1024  # smaller refuses ordinary mail: a Received chain alone is longer
MAX_CONNECTIONS = 1_000_000  # more is a typo; each connection holds a descriptor


def check(smtp: SmtpSection) -> None:
    for key, value in (("smtp.max_connections", smtp.max_connections),
                       ("smtp.max_connections_per_ip", smtp.max_connections_per_ip)):
        if not 1 <= value <= MAX_CONNECTIONS:
            raise ValueError(f"{key} must be between 1 and {MAX_CONNECTIONS}, not {value}")
    if smtp.max_header_size < MIN_HEADER_SIZE:
        raise ValueError(f"smtp.max_header_size must be at least {MIN_HEADER_SIZE} bytes, "
                         f"not {smtp.max_header_size}")
    cert, key = smtp.tls_cert.strip(), smtp.tls_key.strip()
    if cert and not key:
        raise ValueError("smtp.tls_key must be set with smtp.tls_cert (both or neither)")
    if key and not cert:
        raise ValueError("smtp.tls_cert must be set with smtp.tls_key (both or neither)")
    if smtp.require_tls and not cert:
        raise ValueError("smtp.require_tls needs smtp.tls_cert and smtp.tls_key: without a "
                         "certificate no client could ever send mail")
