"""The `[metrics]` configuration: where Prometheus text and `/healthz` are served.

`listen = ""` (the default) serves nothing. Otherwise "HOST:PORT", an IPv6 host in
brackets ("[::1]:9125"). Any address is allowed, as an operator may scrape from another
host, but the shipped example is loopback: the endpoint has no authentication, and what it
shows (queue sizes, counts) is for the operator's monitoring, not the internet.

config.py loads the section like every other and calls `check`; the ValueError names the
key, and `check-config` exits 78 with it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d+)")


@dataclass(frozen=True)
class MetricsSection:
    # "127.0.0.1:9125": Prometheus text at /metrics, health at /healthz; "" is off.
    listen: str = ""


def listen_address(section: MetricsSection) -> tuple[str, int] | None:
    """(host, port) to bind, or None when off. Raises ValueError naming the key."""
    return host_port(section.listen, "metrics.listen")


def host_port(listen: str, key: str) -> tuple[str, int] | None:
    """A "HOST:PORT" setting read as (host, port), None when empty; the portal's too."""
    text = listen.strip()
    if not text:
        return None
    found = HOST_PORT.fullmatch(text)
    if found is None:
        raise ValueError(f"{key} must be \"HOST:PORT\" (e.g. \"127.0.0.1:9125\")"
                         f" or \"\" for off, not {listen!r}")
    host = found.group("v6") or found.group("host")
    if found.group("v6"):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{key}: {host!r} is not an IPv6 address") from None
    port = int(found.group("port"))
    if not 0 < port < 65536:
        raise ValueError(f"{key}: port must be between 1 and 65535, not {port}")
    return host, port


def check(section: MetricsSection) -> None:
    listen_address(section)
