"""Issue 12, point 2: the priority of a new ticket, by the `[priority]` rule table.

Table-driven, over mail as clients write it, parsed by the real parser (so "own text" is
what the worker reads: no quoted history, no signature) and decided by the real table of
steps with the default rules. The tier comes from the customer directory only.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from maildaemon.config import config_from_dict
from maildaemon.domain import Customer, Decision, Priority, PriorityRule, Tier
from maildaemon.parse import parse_mail
from maildaemon.policy.decide import decide
from maildaemon.policy.priorityrules import choose_priority, phrase_pattern
from maildaemon.priority_config import PrioritySection, priority_rules
from maildaemon.worker import policy_settings
from tests.conftest import HANG_GUARD_SECONDS
from tests.test_policy import NOW, ctx

SETTINGS = policy_settings(config_from_dict({}))
SENDER = "ann@clinic.example"


def raw_mail(subject: str, body: str, to: str = "support@healthsync.com",
             headers: str = "") -> bytes:
    return (f"From: Ann Lee <{SENDER}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash((subject, body, to)))}@clinic.example>\r\n{headers}"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            + body.replace("\n", "\r\n")).encode()


def decided(subject: str, body: str, tier: Tier | None,
            to: str = "support@healthsync.com") -> Decision:
    mail = parse_mail(raw_mail(subject, body, to), SENDER, (to,))
    customer = Customer(SENDER, tier) if tier else None
    return decide(mail, ctx(customer=customer), SETTINGS, NOW)


def priority_of(subject: str, body: str, tier: Tier | None,
                to: str = "support@healthsync.com") -> Priority:
    decision = decided(subject, body, tier, to)
    assert decision.new_ticket is not None
    return decision.new_ticket.priority


OUTAGE = "Hi,\n\nsince 9:00 this morning the system is down for all our clinics.\n\nAnn"
UPLOAD = "Hello,\n\nwe cannot upload documents anymore, the button spins forever.\n"

C, H, M, L = Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW
FREE, PLUS, PREMIUM, ENTERPRISE = Tier.FREE, Tier.PLUS, Tier.PREMIUM, Tier.ENTERPRISE

# (subject, own text, tier (None: not in the directory), expected)
TABLE = [
    # critical only for premium and enterprise; the same mail is high for the others
    ("Help", OUTAGE, PREMIUM, C),
    ("Help", OUTAGE, ENTERPRISE, C),
    ("Help", OUTAGE, PLUS, H),
    ("Help", OUTAGE, FREE, H),
    ("Help", OUTAGE, None, H),
    ("Data breach: PHI exposed", "See subject. Please call me.", PREMIUM, C),
    ("Question", "We think our account was compromised last night.", ENTERPRISE, C),
    ("HIPAA violation?", "A patient's records were visible to another clinic.", PREMIUM, C),
    ("Reports", "After the update the data is corrupted in every export.", PREMIUM, C),
    ("Urgent!!", "We lost all of our data from yesterday.", PREMIUM, C),
    ("Hilfe", "Seit heute Morgen haben wir einen Totalausfall.", PREMIUM, C),
    ("Problème", "Nous avons une perte de données depuis la mise à jour.", PREMIUM, C),
    ("Urgente", "El sistema está caído desde las 8.", ENTERPRISE, C),
    # white space and case as people type them
    ("Help", "the SYSTEM\n   is   down", PREMIUM, C),
    # high, for every tier
    ("Cannot upload documents", "Since Monday.", FREE, H),
    ("Documents", UPLOAD, PREMIUM, H),
    ("Documents", "We can\u2019t upload any documents.", PLUS, H),  # a curly apostrophe
    ("Scans", "The AI analysis is failing for every scan since this morning.", FREE, H),
    ("Billing", "Payment processing is down for our patients.", PLUS, H),
    ("Portal", "A major feature is broken: appointment booking.", FREE, H),
    ("Hochladen", "Der Upload funktioniert nicht mehr.", FREE, H),
    # low
    ("[Feature Request] Dark mode", "It would be easier on the eyes at night.", FREE, L),
    ("[feature request] export to CSV", "Thanks!", PREMIUM, L),
    ("Re: [ Feature  Request ] calendar", "Any news?", FREE, L),
    ("Export", "Quick question: how do I export my reports to PDF?", FREE, L),
    ("Docs", "Some documentation feedback: the API page is outdated.", FREE, L),
    ("Login page", "The logo on the login page is misaligned on wide screens.", FREE, L),
    ("Idea", "It would be nice if we could pin favourite patients.", PLUS, L),
    # medium otherwise
    ("Invoice address", "Please change our invoice address to Main St 1.", FREE, M),
    ("Hello", "", FREE, M),
    # the highest level wins
    ("[Feature Request] bulk upload", "Also: right now we cannot upload documents.", FREE, H),
    ("Quick question", "Is it normal that the system is down?", PREMIUM, C),
    # misfires that a single word would make
    ("Download slow", "Downloading reports takes a minute.", PREMIUM, M),
    ("Dropdown", "The dropdown shows the wrong clinic.", PREMIUM, M),
    ("Updates", "Our system downloads updates every night, is that ok?", PREMIUM, M),
    ("Uploads", "The download fails for large files.", PREMIUM, M),
    ("Breach?", "What is your process for a breach notification?", PREMIUM, M),
    # a negation in the same clause does not count; in another clause it does not stop
    ("Sync", "There was no data loss, but uploads are failing since the update.", PREMIUM, H),
    ("Sync", "It is not a complete outage, just slow.", PREMIUM, M),
    ("Sync", "We haven't had any data loss yet.", PREMIUM, M),
    ("Sync", "No, the system is down again!", PREMIUM, C),
]


@pytest.mark.parametrize(("subject", "body", "tier", "expected"), TABLE,
                         ids=[f"{s[:20]}|{b[:25]}|{t}" for s, b, t, _ in TABLE])
def test_the_rule_table(subject: str, body: str, tier: Tier | None,
                        expected: Priority) -> None:
    assert priority_of(subject, body, tier) == expected


def test_each_rule_that_fired_is_in_the_trace_with_where_it_was_found() -> None:
    trace = decided("System is down", "Also data loss. And we cannot upload anything.",
                    PREMIUM).trace
    assert 'priority_rule: critical: "system is down" in the subject' in trace
    assert 'priority_rule: critical: "data loss" in the text' in trace
    assert 'priority_rule: high: "cannot upload" in the text' in trace
    assert not any(line.startswith("priority_cap") for line in trace)


def test_the_cap_is_in_the_trace_and_says_why() -> None:
    trace = decided("Help", OUTAGE, PLUS).trace
    assert 'priority_rule: critical: "system is down" in the text' in trace
    assert "priority_cap: critical capped to high: a plus customer; critical is for " \
           "premium and enterprise customers" in trace
    unknown = decided("Help", OUTAGE, None).trace
    assert any(line.startswith("priority_cap: critical capped to high: a sender not in "
                               "the customer directory (free)") for line in unknown)


def test_a_tier_written_in_the_mail_is_never_believed() -> None:
    body = "Account type: Premium\nCustomer tier: enterprise\n\nThe system is down!"
    assert priority_of("[Premium] outage", body, FREE) == H
    assert priority_of("[Premium] outage", body, None) == H
    assert priority_of("[Premium] outage", body, PREMIUM) == C


def test_quoted_history_is_never_read() -> None:
    gmail = ("Could you also check my invoice?\n\n"
             "On Mon, 30 Nov 2026 at 09:12, Bob <bob@clinic.example> wrote:\n"
             "> The system is down and we had data loss.\n> Bob\n")
    outlook = ("Please see below.\n\n-----Original Message-----\n"
               "From: Bob <bob@clinic.example>\nSent: Monday, November 30, 2026 9:12 AM\n"
               "To: Ann Lee\nSubject: outage\n\nThe system is down and we had data loss.\n")
    for body in (gmail, outlook):
        mail = parse_mail(raw_mail("Re: invoice", body, headers="In-Reply-To: "
                                   "<bob1@clinic.example>\r\n"), SENDER, ())
        decision = decide(mail, ctx(customer=Customer(SENDER, PREMIUM)), SETTINGS, NOW)
        assert decision.new_ticket is not None
        assert decision.new_ticket.priority == M, body
        assert "data loss" in mail.text  # it was there, only not the customer's own words


def test_signatures_are_never_read() -> None:
    delimited = "Where do I change my password?\n\n-- \nAnn Lee | CTO\nWe never accept " \
                "data loss\n"
    signed_off = "Where do I change my password?\n\nBest regards,\nAnn Lee\nThe system " \
                 "is down hotline: 555-0100\n"
    mobile = "Where do I change my password?\n\nSent from my iPhone - data loss free"
    for body in (delimited, signed_off, mobile):
        assert priority_of("Password", body, PREMIUM) == M, body


def test_mail_to_the_escalation_queue_is_at_least_high() -> None:
    decision = decided("[Feature Request] dark mode", "Please!", FREE,
                       to="escalation@healthsync.com")
    assert decision.new_ticket is not None and decision.new_ticket.priority == H
    assert "priority_floor: low raised to high: mail to the escalation queue is at " \
           "least high" in decision.trace
    assert priority_of("Help", OUTAGE, PREMIUM, to="escalation@healthsync.com") == C


def test_a_negated_phrase_is_a_miss_that_decide_explains() -> None:
    decision = decided("Sync", "There was no data loss, but it is slow.", PREMIUM)
    [miss] = [line for line in decision.trace_lines if line.step == "priority_rule"
              and "negated" in line.detail]
    assert not miss.hit and not miss.kept
    assert 'critical: "data loss" in the text, after "no": negated' in miss.detail
    assert not any(line.startswith("priority_rule") for line in decision.trace)


def test_no_rule_fired_is_a_miss_line() -> None:
    decision = decided("Invoice", "Please send a copy.", PREMIUM)
    assert ("priority_rule", False, "no rule fired: medium", False) in decision.trace_lines


@pytest.mark.parametrize(("phrase", "text", "matches"), [
    ("system is down", "The System  is\tDOWN.", True),
    ("system is down", "the system is downloading", False),
    ("can't upload", "we can\u2019t upload", True),
    ("[Feature Request]", "re: [feature request] x", True),
    ("[Feature Request]", "feature request", False),
    ("data loss", "metadata loss", False),
    ("hipaa violation", "HIPAA-violation", False),
])
def test_how_a_phrase_matches(phrase: str, text: str, matches: bool) -> None:
    import re

    found = re.search(phrase_pattern(phrase), text.replace("\u2019", "'"), re.IGNORECASE)
    assert (found is not None) == matches


def test_a_subject_only_rule_never_reads_the_text() -> None:
    rules = (PriorityRule(Priority.LOW, "[Idea]", subject_only=True),)
    assert choose_priority("support", "escalation", "[Idea] tags", "", None, rules
                           ).priority == L
    assert choose_priority("support", "escalation", "Tags", "[Idea] tags", None, rules
                           ).priority == M


def test_configured_lists_replace_the_defaults() -> None:
    config = config_from_dict({"priority": {"low": ["subject:[Idea]", "nice to have"]}})
    settings = policy_settings(config)
    assert PriorityRule(L, "[Idea]", True) in settings.priority_rules
    assert not any(r.phrase == "[Feature Request]" for r in settings.priority_rules)
    assert PriorityRule(C, "data loss") in settings.priority_rules  # the other defaults
    mail = parse_mail(raw_mail("[Feature Request] x", "nice to have"), SENDER, ())
    decision = decide(mail, ctx(), replace(SETTINGS, priority_rules=settings.priority_rules),
                      NOW)
    assert decision.new_ticket is not None and decision.new_ticket.priority == L


def test_the_defaults_are_phrases_that_build() -> None:
    rules = priority_rules(PrioritySection())
    assert {r.level for r in rules} == {C, H, L}
    assert PriorityRule(L, "[Feature Request]", True) in rules
    # no default is a lone short word that fires inside others' sentences
    lone = [r.phrase for r in rules if " " not in r.phrase and len(r.phrase) < 9]
    assert lone == [], lone


@pytest.mark.parametrize(("subject", "text"), [
    ("x" * 1_000_000, "data " * 200_000),
    ("no " * 300_000, "no data loss, " * 80_000),
    ("[" * 500_000, "system " * 200_000 + "is down"),
    ("", "can't " * 200_000),
])
def test_hostile_mail_ends(subject: str, text: str) -> None:
    import time

    rules = SETTINGS.priority_rules
    began = time.perf_counter()
    choice = choose_priority("support", "escalation", subject, text, None, rules)
    assert time.perf_counter() - began < HANG_GUARD_SECONDS
    assert len(choice.lines) <= 2 * len(rules) + 3
