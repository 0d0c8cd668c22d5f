"""`/tickets/new`: a new ticket from the portal, with a topic (the queue) and files; with
`?refers=HS-XXXXXX` (the link on a ticket closed past its reopen window) prefilled
"Follow-up to HS-XXXXXX: subject", a subject that keeps the number whatever the customer
makes of it, so the decision table links the new ticket to the old one as it does for a
late reply by mail. Same spool, limits and rate (`comment_address`) as comments.py.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from maildaemon.portal.comments import after, send
from maildaemon.portal.context import PortalContext
from maildaemon.portal.pagekit import (
    NUMBER,
    posted_form,
    shared,
    text_field,
    to_login,
    too_many,
    unavailable,
    uploads,
)
from maildaemon.portal.render import page
from maildaemon.portal.sessions import current_customer
from maildaemon.portal.submit import MAX_SUBJECT, QUEUES, Submission
from maildaemon.store import STORE_ERRORS

EMPTY_NEW = "Please give your request a subject and describe it."


def routes(ctx: PortalContext) -> list[BaseRoute]:
    max_text = ctx.config.smtp.max_message_size

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
        form = await posted_form(ctx, request)
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
    ]
