"""The forms of the customer's pages that write: a comment (with files) on a ticket,
"Reopen" on a closed one, and a new ticket (issue 19, 3).

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

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from maildaemon import domain
from maildaemon.portal.context import PortalContext
from maildaemon.portal.csrf import csrf_ok
from maildaemon.portal.pagekit import (
    FILES,
    NUMBER,
    expired_form,
    message_page,
    not_found,
    reopen_until,
    shared,
    text_field,
    ticket_page,
    to_login,
    too_many,
    unavailable,
    uploads,
)
from maildaemon.portal.render import page
from maildaemon.portal.sessions import current_customer
from maildaemon.portal.submit import (
    MAX_SUBJECT,
    QUEUES,
    Outcome,
    Submission,
    spool_submission,
    wait_for_outcome,
)
from maildaemon.store import STORE_ERRORS
from maildaemon.store.records import PortalMessage, PortalTicket

REOPENED_WORDS = "(I reopened this ticket from the support portal.)"
CLOSED = ("This ticket is closed, so it takes no more comments. You can open a new ticket"
          " that refers to it.")
EMPTY_COMMENT = "Please write a comment or choose a file to send."
Conversation = tuple[PortalTicket, list[PortalMessage]]
EMPTY_NEW = "Please give your request a subject and describe it."


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


def newest_id(messages: list[PortalMessage]) -> str | None:
    return next((m.message_id for m in reversed(messages) if m.message_id), None)


def routes(ctx: PortalContext) -> list[BaseRoute]:
    max_text = ctx.config.smtp.max_message_size

    async def read(request: Request) -> FormData | Response:
        """The form, once its CSRF field is right and someone is logged in."""
        form = await request.form(max_files=FILES, max_fields=10, max_part_size=max_text)
        if not csrf_ok(ctx, request, form):
            return expired_form(ctx, request)
        return form

    async def customer_and_ticket(request: Request, customer: str | None,
                                  number: str) -> Conversation | Response:
        if customer is None:
            return to_login()
        if not NUMBER.fullmatch(number):
            return not_found(ctx, request, customer)
        found = await run_in_threadpool(ctx.store().conversation, customer, number)
        return not_found(ctx, request, customer) if found is None else found

    async def comment(request: Request) -> Response:
        number = str(request.path_params["number"])
        form = await read(request)
        if isinstance(form, Response):
            return form
        try:
            customer = await run_in_threadpool(current_customer, ctx, request)
            found = await customer_and_ticket(request, customer, number)
            if isinstance(found, Response):
                return found
            assert customer is not None
            ticket, messages = found
            if not ctx.limits.allow("comment_address", customer):
                return too_many(ctx, request, customer)
            if ticket.status == "closed":
                return message_page(ctx, request, 409, "Ticket closed", CLOSED, customer)
            text = text_field(form, "text", max_text)
            files = await uploads(form)
            if not text.strip() and not files:
                return ticket_page(ctx, request, customer, found, 422, error=EMPTY_COMMENT)
            sub = Submission(email=customer, subject=f"Re: [{number}] {ticket.subject}",
                             text=text, queue=ticket.queue, files=files,
                             in_reply_to=newest_id(messages))
            outcome = await run_in_threadpool(send, ctx, sub)
        except STORE_ERRORS:
            return unavailable(ctx, request)
        return after(outcome, number, "comment")

    async def reopen(request: Request) -> Response:
        number = str(request.path_params["number"])
        form = await read(request)
        if isinstance(form, Response):
            return form
        try:
            customer = await run_in_threadpool(current_customer, ctx, request)
            found = await customer_and_ticket(request, customer, number)
            if isinstance(found, Response):
                return found
            assert customer is not None
            ticket, messages = found
            if not ctx.limits.allow("comment_address", customer):
                return too_many(ctx, request, customer)
            if ticket.status != "closed":
                return RedirectResponse(f"/tickets/{number}", status_code=303)
            if reopen_until(ctx, ticket) is None:
                return message_page(ctx, request, 409, "Ticket closed", CLOSED, customer)
            text = text_field(form, "text", max_text).strip() or REOPENED_WORDS
            sub = Submission(email=customer, subject=f"Re: [{number}] {ticket.subject}",
                             text=text, queue=ticket.queue, in_reply_to=newest_id(messages))
            outcome = await run_in_threadpool(send, ctx, sub)
        except STORE_ERRORS:
            return unavailable(ctx, request)
        return after(outcome, number, "reopened")

    def new_form(request: Request, customer: str, status_code: int = 200, error: str = "",
                 subject: str = "", text: str = "", queue: str = "support",
                 refers: str = "") -> Response:
        return page("newticket.html", status_code, title="New ticket", error=error,
                    subject=subject, text=text, queue=queue, queues=QUEUES, refers=refers,
                    **shared(ctx, request, customer))

    def ask_new(request: Request) -> Response:
        try:
            customer = current_customer(ctx, request)
            if customer is None:
                return to_login()
            refers = request.query_params.get("refers", "")
            old = ctx.store().ticket_of(customer, refers) if NUMBER.fullmatch(refers) else None
        except STORE_ERRORS:
            return unavailable(ctx, request)
        if old is None:
            return new_form(request, customer)
        queue = old.queue if old.queue in QUEUES else "support"
        return new_form(request, customer, subject=f"Follow-up to {old.number}: {old.subject}",
                        queue=queue, refers=old.number)

    async def open_new(request: Request) -> Response:
        form = await read(request)
        if isinstance(form, Response):
            return form
        try:
            customer = await run_in_threadpool(current_customer, ctx, request)
            if customer is None:
                return to_login()
            if not ctx.limits.allow("comment_address", customer):
                return too_many(ctx, request, customer)
            subject = text_field(form, "subject", MAX_SUBJECT)
            text = text_field(form, "text", max_text)
            queue = text_field(form, "queue", 20)
            refers = text_field(form, "refers", 20)
            files = await uploads(form)
            if NUMBER.fullmatch(refers) and refers not in subject:
                subject = f"Follow-up to {refers}: {subject}"
            if not subject.strip() or not text.strip() or queue not in QUEUES:
                return new_form(request, customer, 422, EMPTY_NEW, subject, text,
                                queue if queue in QUEUES else "support", refers)
            sub = Submission(email=customer, subject=subject, text=text, queue=queue,
                             files=files)
            outcome = await run_in_threadpool(send, ctx, sub)
        except STORE_ERRORS:
            return unavailable(ctx, request)
        return after(outcome, None, "new")

    return [
        Route("/tickets/new", ask_new, methods=["GET"]),
        Route("/tickets/new", open_new, methods=["POST"]),
        Route("/tickets/{number}/comments", comment, methods=["POST"]),
        Route("/tickets/{number}/reopen", reopen, methods=["POST"]),
    ]
