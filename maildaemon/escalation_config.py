"""The `[escalation]` and `[premium]` configuration: their sections and their checks.

config.py loads them like every section (unknown keys are errors) and calls `check` once;
a ValueError here names the key, and config.py turns it into the ConfigError that
`check-config` reports with exit 78.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maildaemon.policy.escalation import DEFAULT_PHRASES
from maildaemon.policy.mailbox import is_mailbox

if TYPE_CHECKING:
    from maildaemon.config import Config

MAX_PHRASES = 50
MAX_PHRASE_CHARS = 100
MAX_INTERVAL_DAYS = 365.0


@dataclass(frozen=True)
class EscalationSection:
    # Words in a reply's own text (any case) that escalate its ticket; [] turns it off.
    phrases: tuple[str, ...] = DEFAULT_PHRASES
    # The address an escalated ticket is assigned to; "" leaves the assignee as it is.
    manager: str = ""
    # The sweep escalates a ticket whose first-response target passed.
    auto_on_first_response_breach: bool = False


@dataclass(frozen=True)
class PremiumSection:
    # Business days without a word from us before a premium or enterprise customer gets
    # a status update of their open ticket (the [business_hours] calendar).
    update_interval: float = 2.0


def check(escalation: EscalationSection, premium: PremiumSection) -> None:
    for phrase in escalation.phrases:
        words = phrase.split()
        if not words or len(phrase) > MAX_PHRASE_CHARS:
            raise ValueError(f"escalation.phrases: {phrase!r} must be words, at most "
                             f"{MAX_PHRASE_CHARS} characters")
        if len(words) == 1 and len(phrase.strip()) < 4:
            raise ValueError(f"escalation.phrases: {phrase!r} is too short to ask anything")
    if len(escalation.phrases) > MAX_PHRASES:
        raise ValueError(f"escalation.phrases: at most {MAX_PHRASES} phrases")
    if escalation.manager and not is_mailbox(escalation.manager.strip()):
        raise ValueError(f"escalation.manager {escalation.manager!r} is not an email "
                         "address (\"\" for none)")
    interval = premium.update_interval
    if not 0 < interval <= MAX_INTERVAL_DAYS:  # NaN fails it too
        raise ValueError(f"premium.update_interval must be more than 0 and at most "
                         f"{MAX_INTERVAL_DAYS:g} business days, not {interval!r}")


def escalation_settings(config: Config) -> dict[str, Any]:
    """The `PolicySettings` fields of escalation. The escalation queue is the one the
    `escalation` local part reaches; without that address, escalated tickets keep their
    queue and no mail escalates by its address."""
    return {
        "escalation_queue": config.queues.get("escalation"),
        "escalation_phrases": tuple(" ".join(p.split()).lower()
                                    for p in config.escalation.phrases),
        "escalation_manager": config.escalation.manager.strip().lower() or None,
        "managers": dict(config.managers),
    }
