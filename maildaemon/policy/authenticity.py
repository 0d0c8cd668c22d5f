"""Is the From address the sender's own? Our MTA's Authentication-Results say (issue 13, 5).

Anyone can write `From: alice@example.org` and `Re: [HS-123456]`: without this, that is
enough to add text to Alice's ticket, reopen it, escalate it or close it as solved. When
`[mail] trusted_authserv_id` names our MTA, its verdict on the From domain decides:

| our MTA's header says, for the From domain                   | the sender is          |
|---------------------------------------------------------------|------------------------|
| `dmarc=fail` (whatever else it says)                           | unverified             |
| `dmarc=pass` (and no other DMARC result for the domain)        | verified               |
| no DMARC verdict (`none`, `temperror`, none at all) but an     | verified               |
|   aligned `dkim=pass` or `spf=pass`                            |                        |
| anything else (`spf=neutral`, `dkim=fail`, `none`, ...)        | unverified             |
| no readable header of our authserv-id; or no setting           | not judged: as before  |

"Aligned" is DMARC's relaxed alignment without the public suffix list: the same domain, or
one a subdomain of the other (`mail.example.org` signs for `example.org`); two sibling
subdomains count as unaligned, which can only make a sender unverified, never verified.
A domain of one label (`org`) is nobody's parent.

An unverified mail is not refused: it opens a new ticket marked `unverified`, linked to the
ticket it named, whose acknowledgement says nothing of that ticket. The steps that would
join, reopen, escalate or close a ticket each refuse it (finding.py, escalating.py,
outcomes.py). Automatic mail is not judged here: a bounce's From is the bouncing server's,
which rarely aligns, and what it may do is loops.py's to decide.
"""

from __future__ import annotations

from maildaemon.domain import AuthResult
from maildaemon.policy.steps import Case, Verdict, hit, miss

NOT_CONFIGURED = miss("mail.trusted_authserv_id is not set: senders are not judged")
RESULTS_SHOWN = 200  # characters of the results named in a verdict


def sender_verdict(results: tuple[AuthResult, ...], from_addr: str) -> tuple[bool, str]:
    """(verified, why) for a From address, by the table above."""
    domain = from_addr.rpartition("@")[2].rstrip(".").lower() if "@" in from_addr else ""
    if not domain:
        return False, "the From address has no domain to authenticate"
    dmarc = {r.result for r in results if r.method == "dmarc" and r.domain == domain}
    if "fail" in dmarc:
        return False, f"dmarc=fail for {domain}"
    if dmarc == {"pass"}:
        return True, f"dmarc=pass for {domain}"
    for r in results:  # bounded: authresults.MAX_RESULTS
        if r.method in ("dkim", "spf") and r.result == "pass" and aligned(r.domain, domain):
            return True, f"{r.method}=pass for {r.domain}, aligned with {domain}"
    seen = ", ".join(dict.fromkeys(
        f"{r.method}={r.result}" + (f" ({r.domain})" if r.domain else "") for r in results))
    return False, (f"no DMARC pass and no DKIM or SPF pass aligned with {domain}: "
                   f"{seen[:RESULTS_SHOWN] or 'no results'}")


def aligned(identity: str, domain: str) -> bool:
    """Relaxed alignment, read without the public suffix list (see the module's note)."""
    if not identity or not domain:
        return False
    if identity == domain:
        return True
    shorter, longer = sorted((identity, domain), key=len)
    return "." in shorter and longer.endswith("." + shorter)


def sender_unverified(case: Case) -> Verdict:
    """A step of decide()'s table: hits when our MTA does not vouch for the From domain,
    and tells the steps after it (`found.unverified`)."""
    server = case.settings.dmarc_trust.authserv_id
    if not server:
        return NOT_CONFIGURED
    results = case.mail.auth_results
    if results is None:
        return miss(f"no readable Authentication-Results of {server}: not judged")
    verified, why = sender_verdict(results, case.mail.from_addr)
    if verified:
        return miss(f"{server} says {why}")
    if case.found.automated is not None:
        return miss(f"automatic mail is not judged by its From ({why})")
    return hit(f"{server}: {why}", found=case.found._replace(unverified=why))


def refuse_unverified(case: Case, what: str) -> Verdict | None:
    """The miss of a step that never acts on an unverified mail; None for any other."""
    if case.found.unverified is None:
        return None
    return miss(f"an unverified sender {what}")
