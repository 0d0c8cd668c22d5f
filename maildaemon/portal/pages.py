"""The customer's pages (issue 19, 3): "My tickets", a ticket's conversation, its files,
and the forms that write (comments.py). No JavaScript: links and forms only.

- `/tickets`: number, subject, status and last update of each of the customer's tickets,
  the most recently updated first (at most LISTED; older ones stay reachable by number).
- `/tickets/HS-XXXXXX`: the conversation as the customer's mailbox has it (their messages
  and ours to them; store/portal_tickets.py), each with its files as download links and
  the files we did not keep, with the reason. Below it: the comment form on an open ticket;
  on a closed one "Reopen" within `lifecycle.reopen_days` of its closing, or after that a
  link to a new ticket that refers to this one, prefilled (comments.py).
- `/tickets/HS-XXXXXX/files/N`: a file, always as a download (`Content-Disposition:
  attachment`, served as application/octet-stream), never shown inline, to the ticket's
  customer only, and only from a message they wrote or received.

Anyone not logged in is sent to `/login`. Every page is `no-store` (headers.py).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from maildaemon.portal import comments, newticket
from maildaemon.portal.context import PortalContext
from maildaemon.portal.pagekit import (
    NOTICES,
    NUMBER,
    not_found,
    shared,
    ticket_page,
    to_login,
    unavailable,
)
from maildaemon.portal.render import page
from maildaemon.portal.sessions import current_customer
from maildaemon.store import STORE_ERRORS

LISTED = 200


def download_name(filename: str) -> str:
    """The Content-Disposition value: an ASCII fallback and the UTF-8 name (RFC 6266)."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                    for c in filename) or "file"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def routes(ctx: PortalContext) -> list[BaseRoute]:
    def tickets(request: Request) -> Response:
        try:
            customer = current_customer(ctx, request)
            if customer is None:
                return to_login()
            rows = ctx.store().tickets_of(customer, LISTED)
        except STORE_ERRORS:
            return unavailable(ctx, request)
        notice = NOTICES.get(request.query_params.get("done", ""), "")
        return page("tickets.html", title="My tickets", tickets=rows, notice=notice,
                    **shared(ctx, request, customer))

    def ticket(request: Request) -> Response:
        number = str(request.path_params["number"])
        try:
            customer = current_customer(ctx, request)
            if customer is None:
                return to_login()
            found = ctx.store().conversation(customer, number) \
                if NUMBER.fullmatch(number) else None
        except STORE_ERRORS:
            return unavailable(ctx, request)
        if found is None:
            return not_found(ctx, request, customer)
        notice = NOTICES.get(request.query_params.get("done", ""), "")
        return ticket_page(ctx, request, customer, found, notice=notice)

    def download(request: Request) -> Response:
        number = str(request.path_params["number"])
        try:
            customer = current_customer(ctx, request)
            if customer is None:
                return to_login()
            found = ctx.store().file_of(customer, number, int(request.path_params["file"])) \
                if NUMBER.fullmatch(number) else None
        except STORE_ERRORS:
            return unavailable(ctx, request)
        if found is None:
            return not_found(ctx, request, customer)
        filename, _, data = found
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": download_name(filename)})

    return [
        Route("/tickets", tickets, methods=["GET"]),
        *newticket.routes(ctx),  # /tickets/new before /tickets/{number}
        *comments.routes(ctx),
        Route("/tickets/{number}", ticket, methods=["GET"]),
        Route("/tickets/{number}/files/{file:int}", download, methods=["GET"]),
    ]
