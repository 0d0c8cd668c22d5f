"""LMTP (RFC 2033) on the edge: for an MTA that hands us mail on the same machine.

The same edge as SMTP (smtp_in.py: our handler, DATA reader and group commit), with the
three differences LMTP makes:
- the client greets with LHLO; HELO and EHLO are unknown commands (aiosmtpd's LMTP);
- after DATA, one reply per recipient accepted at RCPT, in their order (recipients refused
  at RCPT get none). The message is one spool entry for all of them, as over SMTP: the
  worker makes one ticket of it, routed by `routing.order`. So every reply is sent after
  that one entry is durable, and they all say the same: 250 when it was committed, 451 for
  every recipient when the commit failed (the MTA keeps the message and retries), 552 for
  every recipient when it was too large;
- the banner says LMTP.
"""

from __future__ import annotations

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import Envelope

from maildaemon.smtp_in import EdgeSMTP


class EdgeLMTP(EdgeSMTP, LMTP):
    """EdgeSMTP speaking LMTP: LHLO from aiosmtpd's LMTP, per-recipient DATA replies here."""

    async def push_data_reply(self, status: str, envelope: Envelope) -> None:
        for rcpt in envelope.rcpt_tos:
            await self.push(with_recipient(status, rcpt))


def with_recipient(status: str, rcpt: str) -> str:
    """`status` naming the recipient it answers, as Postfix logs it: "250 2.0.0 <rcpt> OK
    queued as ...". The code and enhanced code stay first, so no client reads it otherwise.
    """
    code, _, rest = status.partition(" ")
    enhanced, _, text = rest.partition(" ")
    if not enhanced[:1].isdigit():
        return f"{code} <{rcpt}> {rest}"
    return f"{code} {enhanced} <{rcpt}> {text}"
