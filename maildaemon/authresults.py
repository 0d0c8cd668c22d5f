"""Did our own MTA see DMARC pass for the From domain? Read from its Authentication-Results.

For a staff address (whose mail we relay as ours), only the FIRST Authentication-Results
header of the message counts, and only when its authserv-id is the one configured
(`[mail] trusted_authserv_id`): our MTA prepends its header above everything the sender
wrote, and a sender can write any header below it, with our authserv-id too (RFC 8601
section 5 asks the MTA to strip those; we do not rely on it).

Any sender (issue 13, point 5) is judged from `trusted_results`: the results of the first
header that has our authserv-id and parses. Not only the very first header, because here a
forged header can do no harm: what it could claim (a pass) leaves the message as it would
be with no header at all, while our MTA's own verdict, above everything the sender wrote,
is found before theirs. So a header of another authserv-id, a malformed one and any past
the first few are passed over, as if absent. The rules that read the results are pure
(policy/authenticity.py).

The header is parsed with `authres` (RFC 8601's grammar, comments, quoting and all) rather
than by hand: a hand-written scan takes `dmarc=pass (header.from=ours) header.from=theirs`
or a quoted value the wrong way. It costs about a millisecond a header, so only a header
whose first words name our authserv-id is parsed (once for both readings), and nothing at
all without `trusted_authserv_id`. Microsoft 365 writes its headers without an
authserv-id: `authres` refuses those as malformed, which is right here, since such a header
is never ours.
"""

from __future__ import annotations

import functools
from typing import Any

import authres

from maildaemon.domain import AuthResult, DmarcTrust

# A real MTA's header is a few hundred characters; far beyond that is not one.
MAX_HEADER = 8_000
# Headers looked at for our MTA's (ours is on top; the rest is the sender's), and results
# kept of it (a real one has a handful).
MAX_READ = 5
MAX_RESULTS = 50


def dmarc_pass_domain(first_header: str | None, from_addr: str, trust: DmarcTrust | None
                      ) -> str:
    """The From address's domain if the trusted first header says `dmarc=pass` for exactly
    that domain (and no other DMARC result for it), else ""."""
    if trust is None or not trust.authserv_id or first_header is None:
        return ""
    domain = from_addr.rpartition("@")[2].lower()
    if not domain or domain not in trust.domains or len(first_header) > MAX_HEADER:
        return ""
    parsed = _parsed(" ".join(first_header.split()))
    if parsed is None or str(parsed.authserv_id or "").lower() != trust.authserv_id.lower():
        return ""
    verdicts = {str(result.result).lower() for result in parsed.results
                if str(result.method).lower() == "dmarc" and _header_from(result) == domain}
    return domain if verdicts == {"pass"} else ""


def _header_from(result: object) -> str:
    for prop in getattr(result, "properties", ()):
        if str(prop.type).lower() == "header" and str(prop.name).lower() == "from":
            return str(prop.value).lower()
    return ""


def trusted_results(values: list[str], authserv_id: str) -> tuple[AuthResult, ...] | None:
    """What the first readable Authentication-Results header with our authserv-id says,
    among the first `MAX_READ` headers; None when there is none such (absent, malformed,
    another authserv-id's: all the same)."""
    wanted = authserv_id.strip().lower()
    if not wanted:
        return None
    for value in values[:MAX_READ]:
        # authres costs a millisecond a header: only ours (by its first words) is parsed.
        if len(value) > MAX_HEADER or wanted not in value.partition(";")[0].lower():
            continue
        parsed = _parsed(" ".join(value.split()))
        if parsed is not None and str(parsed.authserv_id or "").lower() == wanted:
            return tuple(_result(r) for r in list(parsed.results)[:MAX_RESULTS])
    return None


@functools.lru_cache(maxsize=8)  # the staff check and `trusted_results` read the same one
def _parsed(value: str) -> Any:
    try:
        return authres.AuthenticationResultsHeader.parse_value(value)
    except Exception:  # authres raises its own SyntaxError, and anything else stays here too
        return None


def _result(result: Any) -> AuthResult:
    method = str(result.method).lower()
    props: dict[str, str] = {}
    for prop in getattr(result, "properties", ()):
        props.setdefault(f"{prop.type}.{prop.name}".lower(), str(prop.value))
    if method == "dmarc":
        identity = props.get("header.from", "")
    elif method == "dkim":
        identity = props.get("header.d") or props.get("header.i", "")
    elif method == "spf":  # `smtp.mail`: Gmail's older name for it
        identity = props.get("smtp.mailfrom") or props.get("smtp.mail", "")
    else:
        identity = ""
    domain = identity.rpartition("@")[2].strip("<> ").rstrip(".").lower()
    return AuthResult(method, str(result.result).lower(), domain)
