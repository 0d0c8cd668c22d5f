"""Did our own MTA see DMARC pass for the From domain? Read from its Authentication-Results.

Only the FIRST Authentication-Results header of the message counts, and only when its
authserv-id is the one configured (`[mail] trusted_authserv_id`): our MTA prepends its header
above everything the sender wrote, and a sender can write any header below it, with our
authserv-id too (RFC 8601 section 5 asks the MTA to strip those; we do not rely on it).

The header is parsed with `authres` (RFC 8601's grammar, comments, quoting and all) rather
than by hand: a hand-written scan takes `dmarc=pass (header.from=ours) header.from=theirs`
or a quoted value the wrong way. It costs about a millisecond a header, so it runs only for
the From domains whose authentication decides something (the staff domains), never for the
common customer's mail. Microsoft 365 writes its headers without an authserv-id: `authres`
refuses those as malformed, which is right here, since such a header is never ours.
"""

from __future__ import annotations

import authres

from maildaemon.domain import DmarcTrust

# A real MTA's header is a few hundred characters; far beyond that is not one.
MAX_HEADER = 8_000


def dmarc_pass_domain(first_header: str | None, from_addr: str, trust: DmarcTrust | None
                      ) -> str:
    """The From address's domain if the trusted first header says `dmarc=pass` for exactly
    that domain (and no other DMARC result for it), else ""."""
    if trust is None or not trust.authserv_id or first_header is None:
        return ""
    domain = from_addr.rpartition("@")[2].lower()
    if not domain or domain not in trust.domains or len(first_header) > MAX_HEADER:
        return ""
    try:
        parsed = authres.AuthenticationResultsHeader.parse_value(" ".join(first_header.split()))
    except Exception:  # authres raises its own SyntaxError, and anything else stays here too
        return ""
    if str(parsed.authserv_id or "").lower() != trust.authserv_id.lower():
        return ""
    verdicts = {str(result.result).lower() for result in parsed.results
                if str(result.method).lower() == "dmarc" and _header_from(result) == domain}
    return domain if verdicts == {"pass"} else ""


def _header_from(result: object) -> str:
    for prop in getattr(result, "properties", ()):
        if str(prop.type).lower() == "header" and str(prop.name).lower() == "from":
            return str(prop.value).lower()
    return ""
