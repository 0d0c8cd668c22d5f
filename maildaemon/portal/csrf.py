"""CSRF protection of every form: the signed double-submit cookie (OWASP's pattern).

Each browser gets a random `hs_csrf` cookie (HttpOnly, SameSite=Strict) the first time any
page is served; every form carries `csrf` = HMAC(installation secret, that cookie), and a
POST whose field does not match is refused (403) before anything else is read. A page of
another site can make the browser send the cookie, never read it or its HMAC. The API is not
a form: it is authenticated by its bearer token and has no cookie to abuse.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maildaemon.portal.context import PortalContext

COOKIE = "hs_csrf"
FIELD = "csrf"


def _cookie_of(request: Request) -> str:
    value = request.scope.get("csrf_cookie") or request.cookies.get(COOKIE, "")
    return str(value)


def csrf_token(ctx: PortalContext, request: Request) -> str:
    """The value of the hidden `csrf` field of a form on this page."""
    key = _cookie_of(request)
    return hmac.new(ctx.secret, b"csrf:" + key.encode(), hashlib.sha256).hexdigest()


def csrf_ok(ctx: PortalContext, request: Request, form: FormData) -> bool:
    sent = form.get(FIELD)
    cookie = request.cookies.get(COOKIE, "")
    if not isinstance(sent, str) or not cookie:
        return False
    return hmac.compare_digest(sent, csrf_token(ctx, request))


class CsrfCookie:
    """ASGI middleware: a browser without the cookie gets one with this response, and the
    page rendered now already signs it (`scope["csrf_cookie"]`)."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        if COOKIE in Request(scope).cookies:
            await self.app(scope, receive, send)
            return
        value = secrets.token_urlsafe(32)
        scope["csrf_cookie"] = value
        cookie = f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict"
        if self.secure:
            cookie += "; Secure"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
