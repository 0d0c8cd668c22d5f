"""What the customer's pages share: who is asking, the answers every page may give (not
found, busy, unavailable), the uploaded files of a form, and the words a customer reads.

A ticket that is not the customer's and one that does not exist get the same 404 page,
with the same words and no difference in what was looked up (store/portal_tickets.py
answers None for both).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from maildaemon.domain import Status
from maildaemon.portal.context import PortalContext
from maildaemon.portal.csrf import csrf_ok, csrf_token
from maildaemon.portal.render import page
from maildaemon.portal.submit import Upload, upload_of
from maildaemon.store import parse_iso
from maildaemon.store.records import PortalMessage, PortalTicket

NUMBER = re.compile(r"HS-\d{6,8}")
FILES = 20  # parts read of one form; the pipeline keeps max_files and names the rest
STATUS = {Status.NEW: "Received", Status.OPEN: "Open", Status.WAITING: "Waiting for you",
          Status.ON_HOLD: "On hold", Status.RESOLVED: "Resolved", Status.CLOSED: "Closed"}
NOT_FOUND = ("We could not find that ticket among yours. Check the number, or see all"
             " your tickets.")
UNAVAILABLE = "The service is unavailable for a moment. Please try again in a minute."
TOO_MANY = ("You have sent a lot in a short time. Please wait a few minutes and try again;"
            " you can also answer our last email.")
EXPIRED_FORM = "This form had expired. Please go back, reload the page and send it again."
NOTICES = {"comment": "Thank you: your comment is on the ticket, and the team is told.",
           "pending": "Thank you: we have your message. It will appear here in a minute.",
           "reopened": "The ticket is open again, and the team is told.",
           "new": "Thank you: this is your new ticket. We have sent you a confirmation."}


def status_words(status: str) -> str:
    try:
        return STATUS[Status(status)]
    except ValueError:
        return status.replace("_", " ").capitalize()


def when(stamp: str | None) -> str:
    """A stored ISO stamp as a reader sees it: "2 Dec 2026, 09:15 UTC"."""
    if not stamp:
        return ""
    try:
        moment = parse_iso(stamp)
    except ValueError:
        moment = None
    if moment is None:
        return stamp
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def to_login() -> Response:
    return RedirectResponse("/login", status_code=303)


def message_page(ctx: PortalContext, request: Request, status_code: int, title: str,
                 text: str, customer: str | None = None) -> Response:
    """A page that only says something: not found, busy, unavailable, refused."""
    return page("message.html", status_code, title=title, text=text, customer=customer,
                csrf=csrf_token(ctx, request))


def not_found(ctx: PortalContext, request: Request, customer: str | None) -> Response:
    return message_page(ctx, request, 404, "No such ticket", NOT_FOUND, customer)


def unavailable(ctx: PortalContext, request: Request) -> Response:
    return message_page(ctx, request, 503, "Unavailable", UNAVAILABLE)


def too_many(ctx: PortalContext, request: Request, customer: str) -> Response:
    response = message_page(ctx, request, 429, "Please wait", TOO_MANY, customer)
    response.headers["Retry-After"] = "600"
    return response


def expired_form(ctx: PortalContext, request: Request) -> Response:
    return message_page(ctx, request, 403, "Form expired", EXPIRED_FORM)


async def posted_form(ctx: PortalContext, request: Request) -> FormData | Response:
    """A page's posted form (at most FILES files, each text field at most the size limit),
    or the 403 page when its CSRF field is not this browser's."""
    form = await request.form(max_files=FILES, max_fields=10,
                              max_part_size=ctx.config.smtp.max_message_size)
    if not csrf_ok(ctx, request, form):
        return expired_form(ctx, request)
    return form


async def uploads(form: FormData) -> tuple[Upload, ...]:
    """The files of a form's `files` field; a file input left empty sends one nameless,
    empty part, which is no file."""
    found = [await upload_of(item) for item in form.getlist("files")
             if isinstance(item, UploadFile)]
    return tuple(upload for upload in found if upload is not None)


def text_field(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def shared(ctx: PortalContext, request: Request, customer: str, **extra: Any) -> dict[str, Any]:
    """What every logged-in page's template gets."""
    return {"customer": customer, "csrf": csrf_token(ctx, request),
            "status_words": status_words, "when": when, **extra}


def reopen_until(ctx: PortalContext, ticket: PortalTicket) -> str | None:
    """Until when a closed ticket may be reopened (as shown), None once it may not."""
    closed = parse_iso(ticket.closed_at)
    if ticket.status != Status.CLOSED or closed is None:
        return None
    until = closed + timedelta(days=ctx.config.lifecycle.reopen_days)
    return when(until.isoformat()) if ctx.clock() < until else None


def ticket_page(ctx: PortalContext, request: Request, customer: str,
                found: tuple[PortalTicket, list[PortalMessage]], status_code: int = 200,
                notice: str = "", error: str = "", text: str = "") -> Response:
    ticket, messages = found
    return page("ticket.html", status_code, title=f"{ticket.number}: {ticket.subject}",
                ticket=ticket, messages=messages, notice=notice, error=error, text=text,
                reopen_until=reopen_until(ctx, ticket), **shared(ctx, request, customer))
