"""Who is logged in: the session cookie, read and written.

The cookie holds a random token whose hash is a row of `portal_sessions`
(store/portal_sessions.py). It is HttpOnly, `SameSite=Lax` (Strict would drop it on the
redirect that follows a click on the login link in a mail client, a navigation from another
site) and `Secure` whenever `public_url` is https. A session ends after `session_hours`, or at
"Log out".
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from maildaemon.portal.context import PortalContext

COOKIE = "hs_session"


def secure(ctx: PortalContext) -> bool:
    return ctx.base_url.startswith("https://")


def current_customer(ctx: PortalContext, request: Request) -> str | None:
    """The logged-in customer's address, or None."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 100:
        return None
    return ctx.store().session_email(token, ctx.clock())


def start_session(ctx: PortalContext, response: Response, email: str) -> None:
    hours = ctx.config.portal.session_hours
    token = ctx.store().add_session(email, ctx.clock(), timedelta(hours=hours))
    response.set_cookie(COOKIE, token, max_age=hours * 3600, path="/", httponly=True,
                        samesite="lax", secure=secure(ctx))


def end_session(ctx: PortalContext, request: Request, response: Response) -> None:
    token = request.cookies.get(COOKIE)
    if token and len(token) <= 100:
        ctx.store().end_session(token)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                           secure=secure(ctx))
