"""The `[privacy]` configuration: which sensitive data is masked, and whether the customer
is told (masking.py, policy/sensitive.py, policy/privacy.py).

config.py loads the section like every other (unknown keys are errors) and calls `check`;
a ValueError here names the key, and config.py turns it into the ConfigError that
`check-config` reports with exit 78.
"""

from __future__ import annotations

from dataclasses import dataclass

from maildaemon.policy.sensitive import KINDS


@dataclass(frozen=True)
class PrivacySection:
    # The kinds masked in everything kept and sent: "card", "ssn", "password"; [] is off.
    mask: tuple[str, ...] = KINDS
    # The customer is told, once per message, what was removed and the safe ways instead.
    notice: bool = True


def check(privacy: PrivacySection) -> None:
    for kind in privacy.mask:
        if kind not in KINDS:
            raise ValueError(f"privacy.mask: unknown kind {kind!r} (known: "
                             f"{', '.join(KINDS)})")


def mask_kinds(privacy: PrivacySection) -> frozenset[str]:
    return frozenset(privacy.mask)
