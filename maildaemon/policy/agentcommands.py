"""Command lines at the top of an agent's mailed answer or comment, and what they do.

    #status waiting|open|on_hold|resolved|closed     the lifecycle table (lifecycle.py)
    #assign me | #assign someone@example.com
    #priority critical|high|medium|low
    #escalate                                         escalated (escalation.py)
    #note-only                                        the text becomes an internal note

Only lines before any text count (blank lines between them are fine), so a "#" in the
answer itself is never taken for a command. Each is checked as the CLI command would be;
one that is unknown or not allowed is named in the agent's confirmation and the others are
still applied. Pure: the caller passes the ticket and the agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from maildaemon.domain import CommandResult, Priority, Status, TicketRef
from maildaemon.policy.addresses import shorten
from maildaemon.policy.lifecycle import IllegalTransition, check_transition
from maildaemon.policy.mailbox import is_mailbox

MAX_COMMANDS = 20  # lines read as commands; any further ones are refused, not read
ECHO_LINE = 200  # characters of a command line named back to the agent
COMMAND = re.compile(r"^#(?P<name>[a-z][a-z_-]*)(?:[^\S\n]+(?P<argument>.*?))?[^\S\n]*$",
                     re.IGNORECASE)
KNOWN = "#status, #assign, #priority, #escalate, #note-only"
# What the customer is told of the status an agent's answer leaves (also `maildaemon reply`).
STATUS_LINES = {
    Status.WAITING: "we are waiting for your answer",
    Status.ON_HOLD: "on hold while we wait for an internal resource",
    Status.RESOLVED: "resolved; reply if the solution does not work for you",
    Status.CLOSED: "closed; reply within the reopen window to reopen it",
}
# The status changes the customer hears of by mail (templates status_<event>).
CUSTOMER_EVENTS = ("waiting", "on_hold", "resolved", "closed", "reopened")


def split_commands(text: str) -> tuple[tuple[str, ...], str]:
    """The command lines at the top of `text`, and the text after them."""
    lines = text.replace("\r\n", "\n").split("\n")
    commands: list[str] = []
    position = 0
    while position < len(lines):  # bounded: the text's lines
        stripped = lines[position].strip()
        if stripped and not COMMAND.match(stripped):
            break
        if stripped:
            commands.append(stripped)
        position += 1
    return tuple(commands), "\n".join(lines[position:]).strip()


@dataclass
class Effects:
    """What an agent's command lines (and the answer itself) do to a ticket."""

    status: Status
    changes: list[tuple[Status, Status]] = field(default_factory=list)
    assignee: str | None = None
    priority: Priority | None = None
    escalate: bool = False
    note_only: bool = False
    results: list[CommandResult] = field(default_factory=list)

    def move(self, new: Status) -> None:
        self.changes.append((self.status, new))
        self.status = new


def run_commands(lines: tuple[str, ...], ticket: TicketRef, agent: str,
                 status: Status) -> Effects:
    """Each line checked and applied in order, from `status` (the ticket's, or the one the
    answer itself already moved it to)."""
    effects = Effects(status)
    for index, line in enumerate(lines):  # bounded: the lines before the text
        shown = shorten(line, ECHO_LINE)
        if index >= MAX_COMMANDS:
            effects.results.append(CommandResult(shown, False,
                                                 f"more than {MAX_COMMANDS} commands"))
            continue
        found = COMMAND.match(line)
        assert found is not None, "split_commands keeps only command lines"
        name, argument = found["name"].lower(), (found["argument"] or "").strip()
        detail = _one(name, argument, ticket, agent, effects)
        effects.results.append(CommandResult(shown, detail is None, detail or "applied"))
    return effects


def _one(name: str, argument: str, ticket: TicketRef, agent: str,
         effects: Effects) -> str | None:
    """Apply one command to `effects`; None when applied, else why not."""
    word = argument.lower().replace("-", "_")
    if name == "status":
        try:
            new = Status(word)
            check_transition(effects.status, new)
        except ValueError as exc:  # IllegalTransition too
            return str(exc) if isinstance(exc, IllegalTransition) else \
                "not a status (waiting, open, on_hold, resolved, closed)"
        effects.move(new)
    elif name == "assign":
        who = agent if word == "me" else argument.lower()
        if not is_mailbox(who):
            return "say #assign me, or #assign and an email address"
        effects.assignee = who
    elif name == "priority":
        if word not in set(Priority):
            return "not a priority (critical, high, medium, low)"
        effects.priority = Priority(word)
    elif name in ("escalate", "note_only", "note-only"):
        if argument:
            return f"#{name} takes nothing after it"
        effects.escalate = effects.escalate or name == "escalate"
        effects.note_only = effects.note_only or name != "escalate"
    else:
        return f"unknown command (known: {KNOWN})"
    return None
