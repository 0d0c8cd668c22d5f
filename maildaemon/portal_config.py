"""The `[portal]` configuration: the HTTP door for the app's backend and the customer portal.

`listen = ""` (the default) serves nothing. Otherwise "HOST:PORT" as in `[metrics]`; meant for
loopback behind the site's TLS reverse proxy, which is what `public_url` names: the links in
the login mail point there, and its scheme decides the session cookie's `Secure` flag
(https, the only sensible production setting; http only for a test on one machine).
`api_token_file` holds the app backend's bearer token on its first line; without it the API
answers 401 to everyone while the portal pages still work. `session_hours` is how long a
customer stays logged in after following a link.

config.py loads the section like every other and calls `check`; the ValueError names the key,
and `check-config` exits 78 with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from maildaemon.metrics_config import host_port

MIN_TOKEN_LENGTH = 16  # a guessable token is refused at start, not used


@dataclass(frozen=True)
class PortalSection:
    listen: str = ""
    public_url: str = ""
    api_token_file: str = ""
    session_hours: int = 12


def portal_address(section: PortalSection) -> tuple[str, int] | None:
    """(host, port) to bind, or None when the portal is off."""
    return host_port(section.listen, "portal.listen")


def public_url(section: PortalSection) -> str:
    """The base of every link we mail, without a trailing slash: `public_url`, or the
    listening address itself when unset."""
    if section.public_url.strip():
        return section.public_url.strip().rstrip("/")
    where = portal_address(section)
    if where is None:
        return ""
    host, port = where
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def read_api_token(section: PortalSection) -> str | None:
    """The bearer token, or None when no file is configured. Raises ValueError naming the
    key for a file that cannot be read or holds too short a token."""
    if not section.api_token_file.strip():
        return None
    path = Path(section.api_token_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"portal.api_token_file: cannot read {path}: {exc}") from None
    token = lines[0].strip() if lines else ""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"portal.api_token_file: the first line of {path} must be a token"
                         f" of at least {MIN_TOKEN_LENGTH} characters")
    return token


def check(section: PortalSection) -> None:
    portal_address(section)
    if section.public_url.strip():
        parts = urlsplit(section.public_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("portal.public_url must be an http(s) URL such as"
                             f" \"https://support.example.com\", not {section.public_url!r}")
    if not 1 <= section.session_hours <= 24 * 90:
        raise ValueError("portal.session_hours must be between 1 and 2160 (90 days),"
                         f" not {section.session_hours}")
    read_api_token(section)
