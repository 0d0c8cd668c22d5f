"""The `[priority]` configuration: the phrases that make a new ticket critical, high or low.

Each key is a list of phrases (policy/priorityrules.py says how they match: any case, on
word boundaries, any white space for a space). A phrase written `subject:...` matches in the
subject only: `subject:[Feature Request]`. Setting a key replaces that level's default list
(`check-config` prints the lists in force). The defaults are the support page's words and
the ways customers write them, in English with a few common German, French and Spanish
forms; none is a lone word that fires inside others ("down" would on "download").

config.py validates the section by building the rules here, so what `check-config` accepts
is what the worker uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from maildaemon.domain import Priority, PriorityRule
from maildaemon.policy.priorityrules import SUBJECT_ONLY

MAX_PHRASE = 200  # characters: a phrase, not a paragraph

CRITICAL = (
    # a complete outage
    "complete outage", "total outage", "full outage", "system outage", "service outage",
    "platform outage", "system is down", "system down", "systems are down",
    "site is down", "website is down", "app is down", "application is down",
    "service is down", "platform is down", "server is down", "servers are down",
    "everything is down", "is completely down", "down for everyone", "down for all users",
    "nobody can log in", "no one can log in", "none of our users can log in",
    "all users are locked out",
    # data loss or corruption
    "data loss", "lost data", "lost all our data", "lost all of our data", "lost all my data",
    "lost our data", "lost my data", "data is gone", "data was deleted",
    "data has been deleted", "data disappeared", "data has disappeared",
    "records were deleted", "records have been deleted", "records have disappeared",
    "data corruption", "corrupted data", "corrupt data", "data corrupted",
    "data is corrupted", "data was corrupted", "data has been corrupted",
    "database corruption", "database is corrupted", "records are corrupted",
    # a security breach
    "security breach", "data breach", "we had a security incident",
    "we have a security incident", "been hacked", "was hacked", "were hacked", "got hacked",
    "account was compromised", "account has been compromised", "accounts were compromised",
    "unauthorized access to our", "unauthorised access to our",
    "unauthorized access to patient", "unauthorised access to patient", "data leak",
    "leaked data", "hit by ransomware", "ransomware attack",
    # a HIPAA violation
    "hipaa violation", "hipaa breach", "violates hipaa", "violation of hipaa",
    "phi exposed", "phi was exposed", "phi has been exposed", "exposed phi", "phi leak",
    "phi breach", "patient data exposed", "patient data was exposed", "exposed patient data",
    "patient information was exposed", "patient records were exposed",
    # de, fr, es
    "Datenverlust", "Totalausfall", "Systemausfall", "System ist ausgefallen",
    "Daten sind weg", "Datenleck", "Sicherheitsvorfall",
    "perte de données", "panne totale", "panne complète", "le système est en panne",
    "données corrompues", "fuite de données",
    "pérdida de datos", "caída total", "el sistema está caído", "datos corruptos",
    "fuga de datos", "brecha de seguridad",
)

HIGH = (
    # a major feature broken
    "major feature broken", "major feature is broken", "main feature is broken",
    "core feature is broken", "key feature is broken", "completely broken",
    "stopped working completely", "not working at all", "doesn't work at all",
    "does not work at all",
    # documents cannot be uploaded
    "cannot upload", "can't upload", "can not upload", "unable to upload",
    "not able to upload", "upload fails", "upload failed", "upload is failing",
    "uploads fail", "uploads are failing", "uploads failing", "upload doesn't work",
    "upload does not work", "upload is not working", "upload not working",
    "uploading fails", "uploading documents fails",
    # AI analysis failing completely
    "ai analysis failing", "ai analysis is failing", "ai analysis fails",
    "ai analysis failed", "ai analysis is not working", "ai analysis not working",
    "ai analysis doesn't work", "ai analysis does not work", "ai analysis is down",
    "ai analysis is broken",
    # payment processing down
    "payment processing down", "payment processing is down", "payment processing failed",
    "payment processing is failing", "payment processing is not working",
    "payments are failing", "payments failing", "payments are not going through",
    "payments aren't going through", "cannot process payments", "can't process payments",
    "unable to process payments", "checkout is broken",
    # de, fr, es
    "Upload funktioniert nicht", "kann keine Dokumente hochladen",
    "Zahlungen schlagen fehl", "impossible de téléverser", "les paiements échouent",
    "no puedo subir", "no se pueden subir", "los pagos fallan",
)

LOW = (
    # [Feature Request] subjects and the other tags of the page's templates
    "subject:[Feature Request]", "subject:[Enhancement]",
    "subject:[Suggestion]", "subject:[Question]", "subject:[Documentation]",
    # enhancement suggestions
    "feature request", "feature suggestion", "enhancement request",
    "enhancement suggestion", "suggestion for improvement", "i have a suggestion",
    "it would be nice if", "it would be great if", "would be nice to have",
    "would love to see", "please add an option", "please add support for",
    "could you add an option",
    # general questions
    "general question", "quick question", "just a question", "just wondering",
    "i was wondering",
    # documentation feedback
    "documentation feedback", "feedback on the documentation", "feedback on the docs",
    "typo in the documentation", "typo in the docs", "the documentation is unclear",
    "the documentation is outdated", "docs are outdated",
    # cosmetic issues
    "cosmetic issue", "cosmetic bug", "cosmetic problem", "purely cosmetic",
    "just cosmetic", "minor visual", "visual glitch", "misaligned", "spelling mistake",
    "wrong colour", "wrong color",
    # de, fr, es
    "Verbesserungsvorschlag", "Funktionswunsch", "allgemeine Frage",
    "suggestion d'amélioration", "demande de fonctionnalité", "question générale",
    "sugerencia de mejora", "solicitud de función", "pregunta general",
)


@dataclass(frozen=True)
class PrioritySection:
    # Phrases that make a new ticket critical (premium and enterprise only; high for
    # the others), high or low; "subject:..." matches in the subject only.
    critical: tuple[str, ...] = CRITICAL
    high: tuple[str, ...] = HIGH
    low: tuple[str, ...] = LOW


def priority_rules(section: PrioritySection) -> tuple[PriorityRule, ...]:
    """The rules of the section, highest level first; ValueError names the `priority.`
    key and the phrase that is wrong."""
    rules: list[PriorityRule] = []
    seen: dict[str, str] = {}
    for level, phrases in ((Priority.CRITICAL, section.critical),
                           (Priority.HIGH, section.high), (Priority.LOW, section.low)):
        for written in phrases:
            rule = _rule(level, written)
            key = f"{'subject:' if rule.subject_only else ''}{' '.join(rule.phrase.split())}"
            other = seen.setdefault(key.casefold(), level)
            if other != level:
                raise ValueError(f"priority.{level}: {written!r} is also in priority.{other}")
            rules.append(rule)
    return tuple(rules)


def _rule(level: Priority, written: str) -> PriorityRule:
    subject_only = written.lower().lstrip().startswith(SUBJECT_ONLY)
    phrase = written.strip()[len(SUBJECT_ONLY):].strip() if subject_only else written.strip()
    if not phrase or not re.search(r"\w", phrase):
        raise ValueError(f"priority.{level}: {written!r} is not a phrase (it needs a word"
                         f"{' after subject:' if subject_only else ''})")
    if len(phrase) > MAX_PHRASE:
        raise ValueError(f"priority.{level}: a phrase of {len(phrase)} characters is "
                         f"longer than {MAX_PHRASE}: {phrase[:40]!r}...")
    return PriorityRule(level, phrase, subject_only)
