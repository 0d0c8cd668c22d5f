"""The forms of the customer's pages that write: a comment (with files) on a ticket and
"Reopen" on a closed one (issue 19, 3); a new ticket is newticket.py's, on the same terms.

Each becomes a message from the customer in the spool (submit.py), decided on by the same
table as mail, so a portal comment is an emailed reply to the agents: notified the same
way, waiting timers reset, files kept or refused by the same limits (and the refused ones
named on the page and in our mail). A comment names the ticket as a mail client's reply
would: `Re: [HS-XXXXXX] subject`, In-Reply-To the newest message of the conversation, to
the ticket's queue address.

- A closed ticket takes no comment (409): its page offers "Reopen" while
  `lifecycle.reopen_days` since its closing have not passed; the reopening is a reply
  (the customer's words, or a line saying they reopened it) that the decision table's
  reopen window turns into a reopened ticket. After the window, `POST .../reopen` is 409
  and the page links to `/tickets/new?refers=HS-XXXXXX`: a new ticket whose subject names
  the old one ("Follow-up to HS-XXXXXX: ..."), which the table links to it, as for a
  reply by mail after the window.
- Every comment, reopening and new-ticket form a customer posts counts against one
  `comment_address` rate (ratelimit.py), whether or not it is then refused; over it, 429.
- The answer waits for the worker (at most submit.WAIT_SECONDS) and then redirects to the
  ticket (a new one, if that is what the message became) with a notice; a worker that is
  slow leaves the message safe in the spool and the notice says it will appear shortly.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from maildaemon import domain
from maildaemon.portal.context import PortalContext
from maildaemon.portal.pagekit import (
    NUMBER,
    message_page,
    not_found,
    posted_form,
    reopen_until,
    text_field,
    ticket_page,
    to_login,
    too_many,
    unavailable,
    uploads,
)
from maildaemon.portal.sessions import current_customer
from maildaemon.portal.submit import (
    Outcome,
    Submission,
    Upload,
    spool_submission,
    wait_for_outcome,
)
from maildaemon.store import STORE_ERRORS
from maildaemon.store.records import PortalMessage, PortalTicket

REOPENED_WORDS = "(I reopened this ticket from the support portal.)"
CLOSED = ("This ticket is closed, so it takes no more comments. You can open a new ticket"
          " that refers to it.")
EMPTY_COMMENT = "Please write a comment or choose a file to send."


def send(ctx: PortalContext, sub: Submission) -> Outcome | None:
    """Spool the message (durable on return) and wait for the worker's outcome."""
    spool_id, message_id = spool_submission(ctx, sub)
    return wait_for_outcome(ctx, spool_id, message_id)


def after(outcome: Outcome | None, number: str | None, done: str) -> Response:
    """Where the browser goes once a form's message is in: the ticket it landed on."""
    if outcome is None or outcome.number is None:
        where = f"/tickets/{number}" if number else "/tickets"
        return RedirectResponse(f"{where}?done=pending", status_code=303)
    if outcome.outcome == domain.Outcome.NEW_TICKET:
        done = "new"
    elif number is None:
        done = "comment"
    return RedirectResponse(f"/tickets/{outcome.number}?done={done}", status_code=303)


@dataclass(frozen=True)
class Posted:
    """A form posted on one of the customer's tickets."""

    form: FormData
    customer: str
    ticket: PortalTicket
    messages: list[PortalMessage]

    def reply(self, text: str, files: tuple[Upload, ...]) -> Submission:
        """The customer's reply to the ticket, as their mail client would write it."""
        newest = next((m.message_id for m in reversed(self.messages) if m.message_id), None)
        return Submission(email=self.customer, subject=f"Re: [{self.ticket.number}]"
                          f" {self.ticket.subject}", text=text, queue=self.ticket.queue,
                          files=files, in_reply_to=newest)


def routes(ctx: PortalContext) -> list[BaseRoute]:
    max_text = ctx.config.smtp.max_message_size

    async def posted_on_ticket(request: Request) -> Posted | Response:
        """The form, its customer and their ticket, once the CSRF field is right, someone
        is logged in, the ticket is theirs and the form is within their rate."""
        form = await posted_form(ctx, request)
        if isinstance(form, Response):
            return form
        customer = await run_in_threadpool(current_customer, ctx, request)
        if customer is None:
            return to_login()
        number = str(request.path_params["number"])
        found = await run_in_threadpool(ctx.store().conversation, customer, number) \
            if NUMBER.fullmatch(number) else None
        if found is None:
            return not_found(ctx, request, customer)
        if not ctx.limits.allow("comment_address", customer):
            return too_many(ctx, request, customer)
        return Posted(form, customer, *found)

    async def comment(request: Request) -> Response:
        try:
            posted = await posted_on_ticket(request)
            if isinstance(posted, Response):
                return posted
            ticket = posted.ticket
            if ticket.status == "closed":
                return message_page(ctx, request, 409, "Ticket closed", CLOSED,
                                    posted.customer)
            text = text_field(posted.form, "text", max_text)
            files = await uploads(posted.form)
            if not text.strip() and not files:
                return ticket_page(ctx, request, posted.customer,
                                   (ticket, posted.messages), 422, error=EMPTY_COMMENT)
            outcome = await run_in_threadpool(send, ctx, posted.reply(text, files))
        except STORE_ERRORS:
            return unavailable(ctx, request)
        return after(outcome, ticket.number, "comment")

    async def reopen(request: Request) -> Response:
        try:
            posted = await posted_on_ticket(request)
            if isinstance(posted, Response):
                return posted
            ticket = posted.ticket
            if ticket.status != "closed":
                return RedirectResponse(f"/tickets/{ticket.number}", status_code=303)
            if reopen_until(ctx, ticket) is None:
                return message_page(ctx, request, 409, "Ticket closed", CLOSED,
                                    posted.customer)
            text = text_field(posted.form, "text", max_text).strip() or REOPENED_WORDS
            outcome = await run_in_threadpool(send, ctx, posted.reply(text, ()))
        except STORE_ERRORS:
            return unavailable(ctx, request)
        return after(outcome, ticket.number, "reopened")

    return [
        Route("/tickets/{number}/comments", comment, methods=["POST"]),
        Route("/tickets/{number}/reopen", reopen, methods=["POST"]),
    ]
