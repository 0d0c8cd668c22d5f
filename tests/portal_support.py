"""What the portal's tests share: a `serve` with `[portal] listen` and an API token, and an
HTTP client for it (httpx, over real TCP on 127.0.0.1)."""

from __future__ import annotations

import re
import secrets
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx

from tests.conftest import Installation, free_port, wait_until


class PortalInstallation(Installation):
    """An installation whose serve also runs the portal; `url` is its base."""

    def __init__(self, tmp: Path, extra_config: str = "",
                 max_message_size: int = 200_000, database: str = "") -> None:
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.token = secrets.token_urlsafe(24)
        token_file = tmp / "api.token"
        token_file.write_text(self.token + "\n")
        portal = (f'[portal]\nlisten = "127.0.0.1:{self.http_port}"\n'
                  f'public_url = "{self.url}"\napi_token_file = "{token_file}"\n')
        super().__init__(tmp, portal + extra_config, max_message_size, database)

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


LINK = re.compile(r"https?://[^\s/]+/login/[A-Za-z0-9_-]+")


def login_links(inst: PortalInstallation, address: str) -> list[str]:
    """The links of the login mails delivered to `address`, oldest first."""
    links = []
    for raw in inst.outbound():
        mail = message_from_bytes(raw, policy=policy.default)
        if not str(mail["Message-ID"]).startswith("<login.") or \
                address.lower() not in str(mail["To"]).lower():
            continue
        body = mail.get_body(("plain",)) if isinstance(mail, EmailMessage) else None
        links += LINK.findall(body.get_content() if body is not None else "")
    return links


def log_in(inst: PortalInstallation, address: str) -> httpx.Client:
    """A client logged in as `address` the way a customer is: the form, the mail, the link."""
    client = inst.client()
    before = len(login_links(inst, address))
    form = client.get("/login")
    asked = client.post("/login", data={"email": address, "csrf": csrf_of(form.text)})
    assert asked.status_code == 200, asked.text
    links = wait_until(lambda: (found := login_links(inst, address))[before:] and found, 30,
                       f"a login mail to {address}")
    followed = client.get(links[-1])
    assert followed.status_code == 303 and followed.headers["location"] == "/tickets"
    return client
