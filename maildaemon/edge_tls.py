"""Inbound STARTTLS: the server's TLS context, renewable without a restart, and the rules
of the session around it.

`smtp.tls_cert` and `smtp.tls_key` (PEM files) turn STARTTLS on; TLS 1.2 is the least we
speak. `TlsHolder` keeps the context now in force; each new connection takes it when it is
made, so `reload` (called on SIGHUP) gives a renewed certificate to new connections while
those already open keep theirs. A certificate or key that cannot be used is refused with
an error naming the key, and the context in force stays: a renewal that went wrong must not
take TLS away from every sender.

`StartTlsSMTP` is the edge's protocol less what a receiving MX must not do:
- with `smtp.require_tls`, MAIL before STARTTLS gets `530 5.7.0` (RFC 3207 section 4);
  EHLO, STARTTLS, NOOP and QUIT still work, so a client can upgrade;
- AUTH is never offered nor accepted (`502`): we receive mail for our own addresses and
  never relay, so there is nothing to log in to; aiosmtpd would otherwise advertise its
  built-in PLAIN and LOGIN once the session is encrypted.
Nothing here reads or writes the message.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, TLSSetupException, syntax

if TYPE_CHECKING:
    from maildaemon.config import SmtpSection

log = logging.getLogger("maildaemon.smtp")

MUST_STARTTLS = "530 5.7.0 Must issue a STARTTLS command first"
NO_AUTH = "502 5.5.1 AUTH not available: this server receives mail, it does not relay"
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class TlsConfigError(ValueError):
    """A certificate or key that cannot be used; the message names the key."""


def build_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for `cert` and `key`, or TlsConfigError naming the bad one.

    The certificate is read on its own first, so that an error says which file is wrong;
    an encrypted key is refused (a daemon has no one to type its passphrase).
    """
    for name, path in (("smtp.tls_cert", cert), ("smtp.tls_key", key)):
        try:
            Path(path).read_bytes()
        except OSError as exc:
            raise TlsConfigError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=cert)
    except (ssl.SSLError, ValueError) as exc:
        raise TlsConfigError(f"smtp.tls_cert: {cert} is not a PEM certificate: "
                             f"{_reason(exc)}") from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = MINIMUM_VERSION
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except (ssl.SSLError, ValueError, TypeError) as exc:
        raise TlsConfigError(f"smtp.tls_key: {key} is not an unencrypted PEM private key "
                             f"of the certificate in smtp.tls_cert: {_reason(exc)}") from None
    return context


def _no_passphrase() -> bytes:
    raise TypeError("the key is encrypted")


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", None) or exc)


def context_from(smtp: SmtpSection) -> ssl.SSLContext | None:
    """The context `smtp` asks for (None: no TLS), or TlsConfigError."""
    cert, key = smtp.tls_cert.strip(), smtp.tls_key.strip()
    return build_context(cert, key) if cert and key else None


def tls_problem(smtp: SmtpSection) -> str | None:
    """For `check-config`: what is wrong with the certificate and key, or None."""
    try:
        context_from(smtp)
    except TlsConfigError as exc:
        return str(exc)
    return None


class TlsHolder:
    """The TLS context and `require_tls` in force, read by each new connection."""

    def __init__(self, context: ssl.SSLContext | None, require_tls: bool = False) -> None:
        self.context = context
        self.require_tls = require_tls and context is not None

    @classmethod
    def from_config(cls, smtp: SmtpSection) -> TlsHolder:
        """At start: raises TlsConfigError (serve exits 78 with it)."""
        return cls(context_from(smtp), smtp.require_tls)

    def use(self, context: ssl.SSLContext | None, require_tls: bool) -> None:
        """A context already loaded (a reload's check did it, off the event loop)."""
        self.context = context
        self.require_tls = require_tls and context is not None

    def reload(self, smtp: SmtpSection) -> str | None:
        """Take a renewed certificate and key (and `require_tls`) for new connections.
        Returns the error, naming the key, if they cannot be used: the old ones stay."""
        try:
            context = context_from(smtp)
        except TlsConfigError as exc:
            return str(exc)
        self.use(context, smtp.require_tls)
        return None


class StartTlsSMTP(SMTP):
    """aiosmtpd's protocol with the TLS rules above; `tls` gives the context per connection."""

    def __init__(self, handler: Any, *, tls: TlsHolder | None = None, **kwargs: Any) -> None:
        if tls is not None:
            kwargs["tls_context"] = tls.context
        super().__init__(handler, **kwargs)
        # Our check, not aiosmtpd's require_starttls: its 530 has no enhanced status code.
        self.require_tls = tls is not None and tls.require_tls

    @property
    def encrypted(self) -> bool:
        return self._tls_protocol is not None

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        if self.require_tls and not self.encrypted:
            await self.push(MUST_STARTTLS)
            return
        await super().smtp_MAIL(arg)

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        """A failed handshake (TLS 1.1, no shared cipher, a client that gave up) leaves
        nothing to answer on: logged with its reason and closed, where aiosmtpd would log
        an error without one and write a 451 into the broken TLS layer."""
        try:
            await super().smtp_STARTTLS(arg)
        except TLSSetupException as exc:
            peer = self.session.peer if self.session is not None else None
            log.warning("TLS handshake with %s failed: %s", peer, exc.__cause__ or exc)
            if self.transport is not None:
                self.transport.close()

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        await self.push(NO_AUTH)


def without_auth(responses: list[str]) -> list[str]:
    """EHLO's reply lines less the AUTH line (for the handler's `handle_EHLO`)."""
    return [line for line in responses if not line[4:].upper().startswith("AUTH")]
