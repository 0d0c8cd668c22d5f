"""Limits against hostile clients at the SMTP edge: connections, and the header section.

`ConnectionLimits` counts the open connections, overall and per client IP. A connection
beyond `smtp.max_connections` or `smtp.max_connections_per_ip` is answered
`421 4.7.0 Too many connections` and closed at once, before any command is read, as
Postfix's `smtpd_client_connection_count_limit` does; the slots of the others are untouched,
so one address that opens hundreds of connections keeps only its own share. Refusals are
logged at most once per interval (a minute), with their count, never once per connection:
a flood must not become a flood of log lines. IPv6 clients count by their /64 (see
`peer_ip`). Clients on a unix socket (an MTA in front of us) have no IP and count toward
the overall limit only. `reconfigure` takes new limits
(a reload); connections already open stay, new ones are measured against the new limits.

`header_section_too_large` bounds the header section of a message (`smtp.max_header_size`):
a message whose headers alone are larger is answered `552 5.3.4` and not spooled. Mail
with megabytes of headers is an attack on the parser, not a customer's question.

The time limits are smtp_in.py's (`EdgeSMTP`): `smtp.timeout` runs from the last complete
command, so a client that dribbles a command one byte at a time is cut off as if idle;
`smtp.data_timeout` bounds the whole DATA phase of a sender that keeps trickling bytes.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter

from maildaemon.descriptors import Throttle

log = logging.getLogger("maildaemon.smtp")

TOO_MANY = b"421 4.7.0 Too many connections, try again later\r\n"
TOO_MANY_FROM_IP = b"421 4.7.0 Too many connections from your address, try again later\r\n"
HEADER_TOO_LARGE = "552 5.3.4 Header section exceeds the maximum size"


class ConnectionLimits:
    def __init__(self, max_total: int, per_ip: int, interval: float = 60.0) -> None:
        self.max_total = max_total
        self.per_ip = per_ip
        self.total = 0
        self.by_ip: Counter[str] = Counter()
        self.throttle = Throttle(interval)
        self.refused = 0  # since the start, for metrics

    def reconfigure(self, max_total: int, per_ip: int) -> None:
        self.max_total, self.per_ip = max_total, per_ip

    def admit(self, ip: str | None) -> bytes | None:
        """Count a new connection from `ip` (None: no IP, a unix socket) and return None;
        or return the 421 to answer it with, counting nothing."""
        if self.total >= self.max_total:
            refusal = TOO_MANY
        elif ip is not None and self.by_ip[ip] >= self.per_ip:
            refusal = TOO_MANY_FROM_IP
        else:
            self.total += 1
            if ip is not None:
                self.by_ip[ip] += 1
            return None
        self.refused += 1
        count = self.throttle.due()
        if count is not None:
            log.warning("refused %d connection(s) over the limits since the last report "
                        "(smtp.max_connections=%d, smtp.max_connections_per_ip=%d; open: %d; "
                        "the last from %s)", count, self.max_total, self.per_ip, self.total,
                        ip or "a unix socket")
        return refusal

    def release(self, ip: str | None) -> None:
        """A connection that `admit` counted has closed."""
        self.total -= 1
        if ip is not None:
            self.by_ip[ip] -= 1
            if self.by_ip[ip] <= 0:
                del self.by_ip[ip]


def peer_ip(peer: object) -> str | None:
    """Who a peername counts as: the IPv4 address (also when a dual-stack listener shows
    it as ::ffff:a.b.c.d); for IPv6 its /64, the smallest block a provider hands one
    customer, so that one host cannot take a fresh slot from each of its 2**64 addresses;
    None for a unix socket ("" or None)."""
    if not (isinstance(peer, tuple) and peer and isinstance(peer[0], str)):
        return None
    host = peer[0]
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return host


def header_section_too_large(data: bytes, limit: int) -> bool:
    """Whether the header section of `data` (up to and including its first empty line)
    is larger than `limit` bytes. Reads at most about `limit` bytes: a CRLF message's
    blank line is looked for first, and a bare-LF one only before it (or within the limit
    when there is none), so an ordinary message costs a search through its headers only."""
    if len(data) <= limit or data.startswith((b"\r\n", b"\n")):  # no header at all
        return False
    end = data.find(b"\r\n\r\n", 0, limit + 4)
    bare = data.find(b"\n\n", 0, end + 2 if end >= 0 else limit + 2)
    if bare >= 0 and (end < 0 or bare < end):
        return bare + 2 > limit
    return end < 0 or end + 4 > limit
