"""The Starlette application: the API (api.py), the login (login.py), the customer's pages
(pages.py), `/healthz` and the stylesheet, behind the security headers (headers.py) and the
CSRF cookie (csrf.py).

There is no size-limit middleware: each route that reads a body bounds it itself. The API
refuses a body over mail's limit, `smtp.max_message_size`, by its Content-Length before
reading and by counting a chunked one (api_input.py); the login forms read no file and at
most login.FIELDS fields of at most 1 MiB each (Starlette's `request.form` limits). A new
route that reads a body must bound it the same way."""

from __future__ import annotations

from pathlib import Path

# Starlette parses forms and uploads with it only when the first one arrives: imported here,
# a missing package stops the portal at start instead.
import python_multipart  # noqa: F401
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from maildaemon.portal import api, login, pages
from maildaemon.portal.context import PortalContext
from maildaemon.portal.csrf import CsrfCookie
from maildaemon.portal.headers import SecurityHeaders
from maildaemon.store import STORE_ERRORS

STATIC = Path(__file__).with_name("static")


def create_app(ctx: PortalContext) -> Starlette:
    def healthz(request: Request) -> Response:
        """200 when the ticket database answers; 503 with the reason otherwise."""
        try:
            ctx.store().ping()
        except STORE_ERRORS as exc:
            return PlainTextResponse(f"unhealthy: ticket database: {exc}\n", status_code=503)
        return PlainTextResponse("ok\n")

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *api.routes(ctx),
        *login.routes(ctx),
        *pages.routes(ctx),
    ]
    secure = ctx.base_url.startswith("https://")
    return Starlette(routes=routes, middleware=[
        Middleware(SecurityHeaders), Middleware(CsrfCookie, secure=secure)])
