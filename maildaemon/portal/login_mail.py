"""The login link by mail: who may receive one, and the mail that carries it.

A link goes only to a known customer: the requester or a participant of any ticket, or an
address of the customer directory (`known_customer`). The link's row (`portal_logins`) and
the outbox row that mails it are written in one transaction, so there is never a link that
no mail carries, nor a mail with a link that does not exist; the worker's sender delivers
it like any other mail (retries, relay, maildir).

The mail is on no ticket: it is queued like the team's digest (`enqueue_unticketed`), from
the support queue's address, with `Auto-Submitted: auto-generated` (nobody wrote to us;
vacation responders must stay quiet) and a text and an HTML part from
`templates/portal_login.*`, which the operator may override and `check-config` renders.
Its subject has no ticket number: it belongs to no ticket.

The address is never logged (invariant: sensitive data never logged): the log says a link
was queued, or that nobody has the address asked for, and nothing else about who.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

import jinja2

from maildaemon.domain import OutgoingMail
from maildaemon.faults import describe
from maildaemon.portal.context import PortalContext
from maildaemon.render import compose
from maildaemon.store import STORE_ERRORS
from maildaemon.store.portal_sessions import new_token

log = logging.getLogger("maildaemon.portal")

TEMPLATE = "portal_login"
VALID = timedelta(minutes=30)
VALID_WORDS = "30 minutes"
QUEUE = "support"
SUBJECT = "Your link to your support tickets"
SIGNATURE = 22  # characters of a link's HMAC: 16 bytes in URL-safe base64


def _mac(ctx: PortalContext, token: str) -> str:
    digest = hmac.new(ctx.secret, b"portal-login:" + token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def signed(ctx: PortalContext, token: str) -> str:
    """The link's part after `/login/`: the stored token's, then its HMAC under the
    installation's secret (the issue's "HMAC-signed"). The token alone is already
    unguessable; the signature lets a made-up link be refused without a database read."""
    return token + _mac(ctx, token)


def unsigned(ctx: PortalContext, text: str) -> str | None:
    """The token of a link whose signature is ours; None for any other."""
    token, mac = text[:-SIGNATURE], text[-SIGNATURE:]
    if not token or not hmac.compare_digest(mac.encode(), _mac(ctx, token).encode()):
        return None
    return token


def login_mail(ctx: PortalContext, env: jinja2.Environment, to: str, token: str,
               now: datetime) -> OutgoingMail:
    """The mail carrying `{public_url}/login/<token, signed>` to `to`."""
    config = ctx.config
    sender = config.queue_address(QUEUE)
    values = {"login_url": f"{ctx.base_url}/login/{signed(ctx, token)}",
              "valid_for": VALID_WORDS,
              "queue": QUEUE, "queue_address": sender, "domain": config.mail.domain}
    return compose(env, TEMPLATE, values, kind=TEMPLATE,
                   sender=(f"{QUEUE.capitalize()} team", sender), to=to, subject=SUBJECT,
                   now=now, message_id=f"<login.{secrets.token_hex(10)}@{config.mail.domain}>",
                   auto_submitted="auto-generated")


def send_link(ctx: PortalContext, env: jinja2.Environment, address: str) -> bool:
    """Queue a login link to `address` if it is a known customer's; whether one was.

    Runs after the answer was sent (login.py): it never raises, and says in the log what
    happened, without the address."""
    try:
        store = ctx.store()
        if not store.known_customer(address):
            log.info("portal login: no customer has the address asked for; no link sent")
            return False
        now = ctx.clock()
        token, _ = new_token()
        store.add_login(token, address.lower(), now, VALID,
                        login_mail(ctx, env, address, token, now))
    except STORE_ERRORS + (OSError,) as exc:
        log.error("portal login: the link could not be queued: %s", describe(exc))
        return False
    except Exception as exc:  # a template's fault, say: its type only (it might quote input)
        log.error("portal login: the link could not be queued: %s", type(exc).__name__)
        return False
    ctx.wake()
    log.info("portal login: a link was queued")
    return True
