"""Logging in to the portal by a link in the mail (issue 19, 3): `/login`, `/login/<token>`,
`/logout`, and `/`, which leads to the customer's tickets.

`POST /login` answers the same page for every address, known, unknown or over a rate limit,
so that the page tells nobody whether we know an address. Only a malformed one gets a hint
("that is not an email address"), which says nothing about our customers.

Timing: the answer goes before anything looks at the address. The page is rendered and
sent, and only then does a background task (Starlette's, on the thread pool) ask the store
whether the address is a customer's and queue the link (login_mail.py). So a known and an
unknown address take the same time to answer; only the mailbox learns the difference.
The price: a portal that dies in the instant between the answer and the queueing sends no
link, and the customer asks again.

Rate limits (ratelimit.py): `login_ip` counts every posted form of a client, `login_address`
every link asked for one address; over either, the same page, no mail and one log line
naming the limit, never the address.

A link is single-use and valid 30 minutes; a used, expired or unknown one shows the login
page again, saying which in plain words, with the form to ask for a new one. A session
holds the address in lower case (store/portal_sessions.py); `GET /login` with a session
leads to `/tickets`.
"""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from maildaemon.portal.context import PortalContext
from maildaemon.portal.csrf import csrf_ok, csrf_token
from maildaemon.portal.login_mail import VALID_WORDS, send_link, unsigned
from maildaemon.portal.ratelimit import RATES
from maildaemon.portal.render import page
from maildaemon.portal.sessions import current_customer, end_session, start_session
from maildaemon.portal.submit import valid_address
from maildaemon.store import STORE_ERRORS
from maildaemon.templates_config import environment_for

log = logging.getLogger("maildaemon.portal")

HOME = "/tickets"
ASK = "Log in to your support tickets"
SENT = ("If we know this address, a link to your tickets is on its way."
        f" It works once, for {VALID_WORDS}.")
NOT_AN_ADDRESS = "That is not an email address. Please check it and try again."
EXPIRED_FORM = "This form had expired. Please send it again."
WHY = {"used": "This link has already been used. Ask for a new one below.",
       "expired": f"This link has expired (links work for {VALID_WORDS})."
                  " Ask for a new one below.",
       "unknown": "This link is not valid. Ask for a new one below."}
LOGGED_OUT = "You are logged out."
UNAVAILABLE = "The service is unavailable for a moment. Please try again in a minute."
FIELDS = 10  # of a login or logout form (it has two and one)
MAX_TOKEN = 200  # characters of a link's token read; ours have 65


def routes(ctx: PortalContext) -> list[BaseRoute]:
    env = environment_for(ctx.config.templates)

    def login_page(request: Request, status_code: int = 200, heading: str = ASK,
                   notice: str = "", error: str = "", show_form: bool = True,
                   email: str = "") -> Response:
        return page("login.html", status_code, title="Log in", heading=heading,
                    notice=notice, error=error, show_form=show_form, email=email,
                    csrf=csrf_token(ctx, request))

    def sent_page(request: Request) -> Response:
        return login_page(request, heading="Check your mail", notice=SENT, show_form=False)

    def home(request: Request) -> Response:
        return RedirectResponse(HOME, status_code=303)

    def ask(request: Request) -> Response:
        """The form; a customer already logged in goes to their tickets."""
        if current_customer(ctx, request) is not None:
            return RedirectResponse(HOME, status_code=303)
        return login_page(request)

    async def ask_for_link(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=FIELDS)
        if not csrf_ok(ctx, request, form):
            return login_page(request, 403, error=EXPIRED_FORM)
        client = request.client.host if request.client else "unknown"
        if not ctx.limits.allow("login_ip", client):
            log.warning("portal login: over login_ip (%s) for a client; no link sent",
                        RATES["login_ip"])
            return sent_page(request)
        typed = form.get("email")
        address = valid_address(typed) if isinstance(typed, str) else None
        if address is None:
            shown = typed[:254] if isinstance(typed, str) else ""
            return login_page(request, error=NOT_AN_ADDRESS, email=shown)
        if not ctx.limits.allow("login_address", address):
            log.warning("portal login: over login_address (%s) for an address; no link sent",
                        RATES["login_address"])
            return sent_page(request)
        response = sent_page(request)
        response.background = BackgroundTask(send_link, ctx, env, address)
        return response

    def follow_link(request: Request) -> Response:
        text = str(request.path_params["token"])
        token = unsigned(ctx, text) if len(text) <= MAX_TOKEN else None
        try:
            if token is None:
                email, why = None, "unknown"
            else:
                email, why = ctx.store().use_login(token, ctx.clock())
            if email is None:
                log.info("portal login: a link was refused (%s)", why)
                return login_page(request, error=WHY[why])
            response = RedirectResponse(HOME, status_code=303)
            start_session(ctx, response, email)
        except STORE_ERRORS as exc:
            log.error("portal login: the ticket database failed: %s", type(exc).__name__)
            return login_page(request, 503, error=UNAVAILABLE)
        log.info("portal login: a link was used; session started")
        return response

    async def logout(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=FIELDS)
        if not csrf_ok(ctx, request, form):
            return login_page(request, 403, error=EXPIRED_FORM)
        response = login_page(request, notice=LOGGED_OUT)
        try:
            await run_in_threadpool(end_session, ctx, request, response)
        except STORE_ERRORS as exc:
            log.error("portal logout: the ticket database failed: %s", type(exc).__name__)
            return login_page(request, 503, error=UNAVAILABLE)
        return response

    return [
        Route("/", home, methods=["GET"]),
        Route("/login", ask, methods=["GET"]),
        Route("/login", ask_for_link, methods=["POST"]),
        Route("/login/{token}", follow_link, methods=["GET"]),
        Route("/logout", logout, methods=["POST"]),
    ]
