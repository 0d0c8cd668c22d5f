"""Which addresses we accept, and which queue a message lands in."""

from __future__ import annotations

from collections.abc import Iterable

from maildaemon.domain import PolicySettings


def split_address(address: str) -> tuple[str, str]:
    """Local part (without a +tag) and domain, both lower-cased; ("", "") if unusable."""
    address = address.strip().strip("<>").lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "", ""
    return local.split("+", 1)[0], domain


def queue_for_address(address: str, settings: PolicySettings) -> str | None:
    local, domain = split_address(address)
    if domain != settings.domain.lower():
        return None
    return settings.queues.get(local)


def rcpt_verdict(address: str, settings: PolicySettings) -> str:
    """The SMTP answer to RCPT TO: we are never an open relay."""
    local, domain = split_address(address)
    if domain != settings.domain.lower():
        return "550 5.7.1 Relaying denied: we only accept mail for " + settings.domain
    if local not in settings.queues:
        return "550 5.1.1 Mailbox unavailable: no such address here"
    return "250 2.1.5 OK"


def is_own_address(address: str, settings: PolicySettings) -> bool:
    return queue_for_address(address, settings) is not None


def choose_queue(recipients: Iterable[str], settings: PolicySettings) -> tuple[str, list[str]]:
    """The winning queue and every queue addressed, in the configured order."""
    addressed: list[str] = []
    for rcpt in recipients:
        queue = queue_for_address(rcpt, settings)
        if queue and queue not in addressed:
            addressed.append(queue)
    if not addressed:
        return settings.default_queue, []
    rank = {name: i for i, name in enumerate(settings.order)}
    ordered = sorted(addressed, key=lambda q: rank.get(q, len(rank)))
    return ordered[0], ordered
