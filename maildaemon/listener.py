"""Where `serve` listens: TCP on `smtp.host`/`smtp.port`, or a unix socket at `smtp.socket`.

The unix socket is for an MTA on the same machine (Postfix's `lmtp:unix:` or `smtp:unix:`
transport). It is made here rather than by asyncio so that:
- a socket file left by a killed daemon is replaced, but one that a running daemon still
  answers on is not (two daemons on one socket would split the mail between them);
- a path in a missing directory, an unknown group, a file that is not a socket, are each a
  clear error naming the key (`ConfigError`: exit 78 at start);
- its mode and group are set between bind() and listen(): before listen() nobody can
  connect, so there is no moment in which the socket has the umask's permissions and takes
  connections (the process umask is 077, so bind() makes it owner-only).
The file is removed again when the listener closes, if it is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from maildaemon.config import ConfigError, SmtpSection
from maildaemon.listener_config import socket_mode

ProtocolFactory = Callable[[], asyncio.BaseProtocol]


class Listener:
    """The listening server, and the socket file it owns (if any)."""

    def __init__(self, server: asyncio.AbstractServer, where: str,
                 path: Path | None = None, inode: int = 0) -> None:
        self.server = server
        self.where = where
        self.path = path
        self.inode = inode

    def close(self) -> None:
        """Stops accepting; removes our socket file (not one another daemon made since)."""
        self.server.close()
        if self.path is not None:
            with contextlib.suppress(OSError):
                if os.lstat(self.path).st_ino == self.inode:
                    self.path.unlink()


async def start_listener(loop: asyncio.AbstractEventLoop, factory: ProtocolFactory,
                         smtp: SmtpSection) -> Listener:
    if not smtp.socket:
        server = await loop.create_server(factory, host=smtp.host, port=smtp.port,
                                          reuse_address=True)
        return Listener(server, f"{smtp.host}:{smtp.port}")
    path = Path(smtp.socket).absolute()
    sock = bind_unix(path, socket_mode(smtp.socket_mode), smtp.socket_group)
    try:
        server = await loop.create_unix_server(factory, sock=sock)
    except BaseException:
        sock.close()
        raise
    return Listener(server, f"unix socket {path}", path, os.lstat(path).st_ino)


def bind_unix(path: Path, mode: int, group: str) -> socket.socket:
    """A unix socket bound at `path` with `mode` and `group`, not yet listening."""
    gid = _group_id(group)
    if not path.parent.is_dir():
        raise ConfigError(f"smtp.socket: the directory {path.parent} does not exist "
                          f"(create it, or with systemd set RuntimeDirectory=)")
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(str(path))
        except OSError as exc:
            raise ConfigError(f"smtp.socket: cannot create {path}: {exc.strerror}") from None
        try:
            os.chmod(path, mode)
        except OSError as exc:
            raise ConfigError(f"smtp.socket_mode: cannot set {oct(mode)} on {path}: "
                              f"{exc.strerror}") from None
        if gid is not None:
            try:
                os.chown(path, -1, gid)
            except OSError as exc:
                raise ConfigError(f"smtp.socket_group: cannot give {path} to group "
                                  f"{group!r} (the daemon's user must be a member): "
                                  f"{exc.strerror}") from None
        sock.setblocking(False)
        return sock
    except BaseException:
        sock.close()
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def _group_id(group: str) -> int | None:
    if not group:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError(f"smtp.socket_group: there is no group named {group!r}") from None


def _remove_stale(path: Path) -> None:
    """Removes a socket file nobody answers on; refuses anything else at `path`."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ConfigError(f"smtp.socket: {path} exists and is not a socket; "
                          "not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except ConnectionRefusedError:  # a socket file left by a daemon that was killed
        path.unlink()
        return
    except OSError as exc:  # a timeout is a live daemon too busy to accept
        raise ConfigError(f"smtp.socket: cannot tell whether a daemon still listens on "
                          f"{path}: {exc}") from None
    finally:
        probe.close()
    raise ConfigError(f"smtp.socket: another process is listening on {path}")
