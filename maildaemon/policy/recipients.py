"""Who an agent's answer goes to: one message, To the requester, Cc the other participants.

Shared by `maildaemon reply` (agent.py) and an agent's answer by mail (agentmail.py), so
both send the same answer to the same people.
"""

from __future__ import annotations

from dataclasses import dataclass

from maildaemon.policy.mailbox import is_mailbox


@dataclass(frozen=True)
class ReplyRecipients:
    to: str
    cc: tuple[str, ...]
    not_mailed: tuple[str, ...]  # beyond the cap, or not an address at all

    @property
    def left_out(self) -> str:
        """For the event and the agent: who did not get it (the first few)."""
        if not self.not_mailed:
            return ""
        shown = ", ".join(self.not_mailed[:5])
        more = f" and {len(self.not_mailed) - 5} more" if len(self.not_mailed) > 5 else ""
        return f"; not mailed: {shown}{more}"


def reply_recipients(requester: str, participants: list[str], cap: int) -> ReplyRecipients:
    """One message: To the requester, Cc the other participants, at most `cap` addresses.

    A ticket from before participants were capped (or one the cap was lowered for) may
    hold thousands: the cap bounds what one agent reply sends. Strings that are not
    addresses are left out; if the requester is one, the first valid participant is the
    To, so the others still hear the answer.
    """
    people = list(dict.fromkeys([requester, *participants]))
    valid = [p for p in people if is_mailbox(p)]
    mailed = valid[:cap]
    not_mailed = tuple(p for p in people if p not in mailed)
    if not mailed:  # nobody to send to: the outbox keeps it as failed, with the reason
        return ReplyRecipients(requester, (), not_mailed)
    return ReplyRecipients(mailed[0], tuple(mailed[1:]), not_mailed)
