"""The in-app API (issue 19, 2): the HealthSync app's backend, which knows the logged-in
customer, submits tickets for them and lists their tickets.

`POST /api/v1/tickets` (JSON or multipart: api_input.py) and `GET /api/v1/tickets?email=`,
both with `Authorization: Bearer <token>` (`[portal] api_token_file`).

Order of the checks, each answered in JSON `{"error", "field"?}`:
1. `api_ip` (ratelimit.py) counts every call of a client, a stranger's too: 429 with
   Retry-After. Behind the proxy the client is X-Forwarded-For's (process.py).
2. The token, compared in constant time (hmac.compare_digest): missing or wrong is 401
   `{"error": "unauthorized"}` with `WWW-Authenticate: Bearer` and nothing more, before a
   byte of the body is read. Without a token file every call is 401.
3. The body: 415, 400, 413 or 422 naming the field (api_input.py).
4. `api_address` counts the submissions for one customer: 429 with Retry-After.
5. The ticket database must answer (a ping) before the spool is written: 503
   `{"error": "ticket database unavailable"}` otherwise, and nothing is spooled, so a
   refused call leaves nothing half-written to retry around. A spool that fails its
   commit (locked past its timeout, disk full) is 503 `{"error": "spool unavailable"}`:
   one commit, so again nothing written.
6. The submission is committed to the spool (durable before any answer: submit.py) and the
   answer waits for the worker's outcome (on the thread pool, at most submit.WAIT_SECONDS):
   - a new ticket: 201 `{"number", "outcome": "new_ticket", "refused"}`;
   - joined a ticket (a duplicate, a followup of an open one): 200 with its number;
   - on no ticket (e.g. `automatic`): 200 with `"number": null`;
   - the worker slow or the database failing while we wait: 202 `{"number": null,
     "spool_id", "outcome": null, "refused": []}`: the message is durable and will be
     processed; the number reaches the customer in the acknowledgement by mail.
   `refused`: `[{"filename", "reason"}]`, the files not kept, with the reason in the
   words of the acknowledgement and of `show --json`'s `rejected_attachments`.

`GET` lists the customer's tickets (requester or participant), the most recently updated
first, at most MAX_LISTED: `[{"number", "subject", "status", "updated_at"}]`; 422 without a
plain address in `email`; 503 when the database fails. It counts towards `api_ip` only.

The log never names an address or any text: "a submission for an address", the spool id,
the outcome and the ticket number.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from maildaemon.portal.api_input import Refused, address_param, read_submission
from maildaemon.portal.context import PortalContext
from maildaemon.portal.ratelimit import RATES
from maildaemon.portal.submit import Outcome, spool_submission, wait_for_outcome
from maildaemon.store import STORE_ERRORS

log = logging.getLogger("maildaemon.portal")

MAX_LISTED = 500
UNAVAILABLE = "ticket database unavailable"
SPOOL_ERRORS: tuple[type[Exception], ...] = (*STORE_ERRORS, OSError)


def refusal(refused: Refused) -> Response:
    return JSONResponse(refused.body(), status_code=refused.status)


def unauthorized() -> Response:
    return JSONResponse({"error": "unauthorized"}, status_code=401,
                        headers={"WWW-Authenticate": "Bearer"})


def over_rate(ctx: PortalContext, kind: str, key: str) -> Response:
    log.warning("portal api: over %s (%s); refused", kind, RATES[kind])
    return JSONResponse({"error": "too many requests"}, status_code=429,
                        headers={"Retry-After": str(ctx.limits.retry_after(kind, key))})


def reason(filename: str, words: str) -> str:
    """The reason as `show --json` gives it: the acknowledgement's line ("shot5.png: this
    ticket already has 5 files") without the file's name (which may hold ": " itself)."""
    prefix = f"{filename}: "
    return words[len(prefix):] if words.startswith(prefix) else words.partition(": ")[2]


def answer(outcome: Outcome | None, spool_id: str) -> Response:
    if outcome is None:
        return JSONResponse({"number": None, "spool_id": spool_id, "outcome": None,
                             "refused": []}, status_code=202)
    body: dict[str, Any] = {
        "number": outcome.number, "outcome": outcome.outcome,
        "refused": [{"filename": name, "reason": reason(name, words)}
                    for name, words in outcome.refused]}
    new = outcome.outcome == "new_ticket" and outcome.number is not None
    return JSONResponse(body, status_code=201 if new else 200)


def routes(ctx: PortalContext) -> list[BaseRoute]:
    limit = ctx.config.smtp.max_message_size

    def gate(request: Request) -> Response | None:
        """429 over the client's rate, 401 without the token; None: go on."""
        client = request.client.host if request.client else "unknown"
        if not ctx.limits.allow("api_ip", client):
            return over_rate(ctx, "api_ip", client)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if ctx.api_token is None or scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), ctx.api_token.encode()):
            return unauthorized()
        return None

    async def submit(request: Request) -> Response:
        refused = gate(request)
        if refused is not None:
            return refused
        try:
            sub = await read_submission(request, limit)
        except Refused as exc:
            return refusal(exc)
        if not ctx.limits.allow("api_address", sub.email):
            return over_rate(ctx, "api_address", sub.email)
        try:
            await run_in_threadpool(lambda: ctx.store().ping())
        except STORE_ERRORS as exc:
            log.error("portal api: the ticket database failed: %s; nothing spooled",
                      type(exc).__name__)
            return JSONResponse({"error": UNAVAILABLE}, status_code=503)
        try:
            spool_id, message_id = await run_in_threadpool(spool_submission, ctx, sub)
        except SPOOL_ERRORS as exc:  # SpoolBusy too; one commit, all or none
            log.error("portal api: the spool failed: %s; nothing spooled", type(exc).__name__)
            return JSONResponse({"error": "spool unavailable"}, status_code=503)
        log.info("portal api: a submission for an address was spooled as %s (%d files)",
                 spool_id, len(sub.files))
        try:
            outcome = await run_in_threadpool(wait_for_outcome, ctx, spool_id, message_id)
        except STORE_ERRORS as exc:  # spooled: the worker will do it, the mail will tell
            log.error("portal api: the ticket database failed waiting for %s: %s",
                      spool_id, type(exc).__name__)
            outcome = None
        if outcome is None:
            log.info("portal api: %s accepted; its outcome is not known yet", spool_id)
        else:
            log.info("portal api: %s: %s %s", spool_id, outcome.outcome, outcome.number)
        return answer(outcome, spool_id)

    async def listing(request: Request) -> Response:
        refused = gate(request)
        if refused is not None:
            return refused
        try:
            address = address_param(request)
        except Refused as exc:
            return refusal(exc)
        try:
            found = await run_in_threadpool(lambda: ctx.store().tickets_of(address,
                                                                           MAX_LISTED))
        except STORE_ERRORS as exc:
            log.error("portal api: the ticket database failed: %s", type(exc).__name__)
            return JSONResponse({"error": UNAVAILABLE}, status_code=503)
        return JSONResponse([{"number": t.number, "subject": t.subject, "status": t.status,
                              "updated_at": t.updated_at} for t in found])

    return [
        Route("/api/v1/tickets", submit, methods=["POST"]),
        Route("/api/v1/tickets", listing, methods=["GET"]),
    ]
