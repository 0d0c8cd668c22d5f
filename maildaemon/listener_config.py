"""The listener's `[smtp]` keys added for LMTP and unix sockets (issue 14, point 7):
`protocol`, `socket`, `socket_mode`, `socket_group`, and `max_recipients` (both protocols).

`check` is pure and runs at every load (config.py turns its ValueError into the
ConfigError that `check-config` reports with exit 78). What depends on the machine (the
socket's directory exists, the group exists) is checked where the socket is made
(listener.py), at the start of `serve`, and refused there with exit 78 too: `tickets` or
`show` must not fail because the daemon's runtime directory is not there.
"""

from __future__ import annotations

import re

PROTOCOLS = ("smtp", "lmtp")
# An octal permission string as chmod(1) takes it: "660", "0660".
MODE = re.compile(r"0?[0-7]{3}")
MAX_RECIPIENTS_CEILING = 10_000  # RFC 5321 asks for at least 100; more is a typo


def socket_mode(text: str) -> int:
    """`smtp.socket_mode` as the number chmod takes."""
    if not MODE.fullmatch(text):
        raise ValueError(f'smtp.socket_mode must be an octal mode such as "0660", not {text!r}')
    return int(text, 8)


def check(protocol: str, socket: str, mode: str, group: str, max_recipients: int) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f'smtp.protocol must be "smtp" or "lmtp", not {protocol!r}')
    if socket != socket.strip() or "\x00" in socket:
        raise ValueError(f"smtp.socket must be a file path (or empty for host/port), "
                         f"not {socket!r}")
    if len(socket.encode()) > 107:  # sun_path is 108 bytes with its NUL
        raise ValueError(f"smtp.socket: a unix socket path is at most 107 bytes, "
                         f"not {len(socket.encode())}: {socket!r}")
    socket_mode(mode)
    if socket_mode(mode) & 0o002:
        raise ValueError(f"smtp.socket_mode {mode!r} lets every local user write to the "
                         "socket: give the MTA access by socket_group instead")
    if group != group.strip():
        raise ValueError(f"smtp.socket_group must be a group name, not {group!r}")
    if not 1 <= max_recipients <= MAX_RECIPIENTS_CEILING:
        raise ValueError(f"smtp.max_recipients must be between 1 and "
                         f"{MAX_RECIPIENTS_CEILING}, not {max_recipients}")
