"""What the portal's tests share: a `serve` with `[portal] listen` and an API token, and an
HTTP client for it (httpx, over real TCP on 127.0.0.1)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx

from tests.conftest import Installation, free_port, wait_until


class PortalInstallation(Installation):
    """An installation whose serve also runs the portal; `url` is its base."""

    def __init__(self, tmp: Path, extra_config: str = "",
                 max_message_size: int = 200_000) -> None:
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.token = secrets.token_urlsafe(24)
        token_file = tmp / "api.token"
        token_file.write_text(self.token + "\n")
        portal = (f'[portal]\nlisten = "127.0.0.1:{self.http_port}"\n'
                  f'public_url = "{self.url}"\napi_token_file = "{token_file}"\n')
        super().__init__(tmp, portal + extra_config, max_message_size)

    def start(self) -> None:
        super().start()

        def answers() -> bool:
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, 20, "the portal to answer")

    def client(self) -> httpx.Client:
        """A browser-like client: keeps cookies (none is Secure: public_url is http)."""
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {self.token}"})


CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    """The hidden CSRF field of the first form on a page."""
    found = CSRF.search(html)
    assert found, f"no csrf field in: {html[:500]}"
    return found.group(1)
