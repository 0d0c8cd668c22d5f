"""Bug reports: the `[Bug]` route, and the fields of the support page's bug report template.

A `[Bug]` tag (any case, `[Bug Report]` too, anywhere in the subject) on a new ticket that
routing sends to the queue of support@ puts it in the queue of bugs@ instead; other queues
keep it. A new ticket is a bug report when it is in the bugs queue (mailed to bugs@, or
routed there by its tag) or its subject carries the tag (to any queue).

The fields are read from the customer's own words (ownwords.customer_words: no quoted
history, no signature, so "Sent from my iPhone" names no device), tolerant of how people
and their mailers write them:
- labelled lines: "Browser: Chrome 120", "**OS:** Windows 11", "- App version - 3.2.0",
  "| Device | iPhone 15 |", the label in any case, a colon, dash, "=" or "|" after it, or
  the value on the next line; German, French and Spanish labels too;
- steps to reproduce: a "Steps to reproduce:" block (its lines up to a blank line or the
  next label), else a numbered list ("1." "2)" "Step 3:") of two or more items, else a
  bulleted one whose items say what to do ("- Open ...", "- Click ...");
- unlabelled names: a browser ("in Chrome 120", "Safari"), a device ("iPhone 15", "Pixel
  8"), an OS ("Windows 11", "macOS 14.2", "iOS 17"), an app version ("version 3.2.0",
  "v3.2.0", never a browser's or OS's version: "Chrome version 120.0.1" is the browser);
- "n/a", "unknown", "not sure" and the like are no value.
Steps, a browser or device, and the app version are required: the acknowledgement asks
for exactly those missing (`ASKS`); the OS is kept when given and never asked for.
"""

from __future__ import annotations

import re
from dataclasses import replace

from maildaemon.domain import BugReport, PolicySettings, TraceLine
from maildaemon.policy.steps import note

READ_CHARS = 20_000  # of the customer's own words
MAX_VALUE = 200  # characters of one field's value
MAX_STEPS = 20  # lines of steps kept
BUG_TAG = re.compile(r"\[\s*bug(?:\s+report)?\s*\]", re.IGNORECASE)

# What the acknowledgement asks for when it is missing, with a one-line example each.
ASKS: dict[str, tuple[str, str]] = {
    "steps": ("Steps to reproduce",
              "1. Open Documents  2. Click Upload  3. Choose a PDF: nothing happens"),
    "browser_or_device": ("Browser or device", "Browser: Chrome 120, or Device: iPhone 15"),
    "app_version": ("App version", "App version: 3.2.0"),
}

_LABELS = {
    "steps": r"steps?\s+to\s+reproduce|reproduction\s+steps|repro\s+steps|how\s+to\s+"
             r"reproduce|to\s+reproduce|steps|schritte(?:\s+zu[rm]\s+reproduktion|\s+zum\s+"
             r"reproduzieren)?|étapes(?:\s+pour\s+reproduire)?|pasos(?:\s+para\s+reproducir)?",
    "browser": r"(?:web\s+)?browser(?:\s+(?:and\s+)?version)?|navigateur|navegador",
    "device": r"device(?:\s+model)?|phone\s+model|gerät|appareil|dispositivo",
    "os": r"operating\s+system(?:\s+version)?|os(?:\s+version)?|platform|betriebssystem|"
          r"système(?:\s+d'exploitation)?|sistema\s+operativo",
    "app_version": r"app(?:lication)?[\s-]?version|version\s+(?:of\s+the\s+app|number)|"
                   r"version(?:\s+de\s+l'application)?|build(?:\s+number)?|versión(?:\s+de"
                   r"\s+la\s+app)?|app-?version",
    # not fields, but where a steps block ends
    "other": r"expected(?:\s+(?:result|behaviou?r))?|actual(?:\s+(?:result|behaviou?r))?|"
             r"what\s+happened|result|screenshots?|environment|description|summary|"
             r"erwartet(?:es\s+ergebnis)?|tatsächlich(?:es\s+ergebnis)?|résultat\s+attendu|"
             r"resultado\s+esperado",
}
_LABEL = "|".join(f"(?P<{name}>{pattern})" for name, pattern in _LABELS.items())
# A labelled line: list marker or markup, the label, a separator, the value.
_LABELLED = re.compile(
    rf"^(?:[\s|*_#>]|[-•+](?=\s)|\d{{1,2}}[.)](?=\s))*(?:{_LABEL})(?!\w)[*_\s]*"
    r"(?:\([^)\n]{0,30}\))?[*_\s]*(?P<sep>[:=|]|(?<=\s)[-–—](?=\s))?[*_\s]*"
    r"(?P<value>[^\n]*)$",
    re.IGNORECASE)
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}[.)]|step\s+\d{1,2}\s*[:.)-]?)\s+\S", re.IGNORECASE)
_BULLET = re.compile(r"^\s*[-*•+]\s+(?P<item>\S.*)$")
_ACTION = re.compile(
    r"^(?:then\s+|and\s+)?(?:open|click|tap|go|navigate|select|choose|press|enter|type|"
    r"upload|log|sign|drag|scroll|wait|add|create|delete|edit|save|submit|try|visit|launch|"
    r"start|run|switch|pick|attach|öffne|klicke|wähle|ouvrir|cliquer|abrir|hacer)\b",
    re.IGNORECASE)
_NO_VALUE = re.compile(r"^(?:n/?a|na|-+|\?+|unknown|not sure|don'?t know|none|idk|tbd|"
                       r"keine ahnung|k\.\s?a\.|inconnu|je ne sais pas|desconocido|no sé)\W*$",
                       re.IGNORECASE)
_VERSION = r"\d+(?:\.\d+){1,3}(?:[-+][\w.]{1,20})?"
_BROWSER = re.compile(
    r"(?<![\w.])(?:(?:google\s+)?chrome(?!\s*os|book)|(?:mozilla\s+)?firefox|safari|"
    r"microsoft\s+edge|chromium|internet\s+explorer|samsung\s+internet|"
    r"(?:edge|opera|brave|vivaldi)(?=\s*v?\d))"
    r"(?:\s*(?:version\s*)?v?\s*\d+(?:\.\d+){0,3})?(?!\w)",
    re.IGNORECASE)
_DEVICE = re.compile(
    r"(?<![\w.])(?:iphone(?:\s+(?:\d{1,2}|se|xr|xs|x)(?:\s+(?:pro\s+max|pro|plus|mini))?)?"
    r"|ipad(?:\s+(?:pro|air|mini))?|(?:google\s+)?pixel\s+\d{1,2}[a-z]?(?:\s+pro)?"
    r"|(?:samsung\s+)?galaxy\s+(?:[a-z]\d{1,3}|tab\s+\w+|note\s*\d+)(?:\s+(?:ultra|plus|fe))?"
    r"|oneplus\s+\d{1,2}|android\s+(?:phone|tablet)|macbook(?:\s+(?:pro|air))?)(?!\w)",
    re.IGNORECASE)
_OS = re.compile(
    r"(?<![\w.])(?:windows\s+(?:1[01]|7|8(?:\.1)?|xp|vista|server\s+\d{4})"
    r"|mac\s?os(?:\s+x)?(?:\s+\d+(?:\.\d+){0,2}|\s+(?:sequoia|sonoma|ventura|monterey|"
    r"big\s+sur|catalina))?|os\s+x\s+\d+(?:\.\d+){0,2}|ipados\s+\d+(?:\.\d+){0,2}"
    r"|ios\s+\d+(?:\.\d+){0,2}|android\s+\d+(?:\.\d+){0,2}|ubuntu(?:\s+\d+\.\d+)?"
    r"|debian(?:\s+\d+)?|fedora(?:\s+\d+)?|chrome\s?os|linux)(?!\w)",
    re.IGNORECASE)
_APP_VERSION = re.compile(
    rf"(?<![\w.])(?:(?P<before>[\w]+)\s+)?(?:version|ver\.?|v)\s*:?\s*(?P<v>{_VERSION})(?!\w)",
    re.IGNORECASE)
_NOT_THE_APP = {"chrome", "firefox", "safari", "edge", "opera", "brave", "chromium",
                "ios", "android", "windows", "macos", "os", "browser", "ipados", "ubuntu",
                "linux", "kernel", "python", "java", "node", "api"}
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})


def is_bug_subject(subject: str) -> bool:
    return BUG_TAG.search(subject) is not None


def bug_route(queue: str, subject: str, settings: PolicySettings
              ) -> tuple[str, TraceLine | None]:
    """The queue a new ticket is created in: a `[Bug]` subject routed to the queue of
    support@ goes to the queue of bugs@ (when both exist), with a trace line saying so."""
    support, bugs = settings.queues.get("support"), settings.queues.get("bugs")
    if not support or not bugs or queue != support or bugs == support \
            or not is_bug_subject(subject):
        return queue, None
    return bugs, note("bug_route", f"[Bug] subject to the {support} queue: created in "
                                   f"the {bugs} queue instead")


def is_bug_report(queue: str, subject: str, settings: PolicySettings) -> bool:
    return queue == settings.queues.get("bugs") or is_bug_subject(subject)


def missing_fields(report: BugReport) -> tuple[str, ...]:
    """The required fields the report lacks, in `ASKS`' order."""
    given = {"steps": bool(report.steps),
             "browser_or_device": bool(report.browser or report.device),
             "app_version": bool(report.app_version)}
    return tuple(name for name in ASKS if not given[name])


def read_bug_report(words: str) -> BugReport:
    """The template's fields in the customer's own words (see the module's docstring)."""
    lines = words[:READ_CHARS].translate(_APOSTROPHES).split("\n")
    found: dict[str, str] = {}
    steps: list[str] = []
    index = 0
    while index < len(lines):  # bounded: each pass moves on by at least one line
        index = _labelled(lines, index, found, steps)
    report = BugReport(steps="\n".join(steps[:MAX_STEPS]), **found)
    return _unlabelled(report, lines)


def _labelled(lines: list[str], index: int, found: dict[str, str], steps: list[str]) -> int:
    """Reads the labelled line at `index` (and a steps block under it, or a value on the
    next line) into `found`; the index of the next line to read."""
    match = _LABELLED.match(lines[index])
    name = next((n for n in _LABELS if match.group(n)), None) if match else None
    if match is None or name is None or name == "other":
        return index + 1
    value = _clean(match.group("value"))
    if name == "steps":
        if steps or (value and not match.group("sep")):
            return index + 1  # steps read already, or prose ("Steps I took ...")
        if value:
            steps.append(value)  # "Steps to reproduce: open the app, click Upload"
        return _steps_block(lines, index + 1, steps)
    if not match.group("sep") and not _validates(name, value):
        return index + 1  # "Browser crashes on save": prose, not a label
    if not value and match.group("sep") is not None and index + 1 < len(lines):
        following = lines[index + 1].strip()
        if following and not _is_label(following):
            value, index = _clean(following), index + 1
    if value and not _NO_VALUE.match(value) and name not in found:
        found[name] = value[:MAX_VALUE]
    return index + 1


def _steps_block(lines: list[str], index: int, steps: list[str]) -> int:
    """The lines under a "Steps to reproduce" label, up to a blank line after the first
    step, the next label, or MAX_STEPS lines."""
    while index < len(lines) and len(steps) < MAX_STEPS:
        line = lines[index].strip()
        if not line:
            if steps:
                break
        elif _is_label(line) and not _NUMBERED.match(line):
            break
        else:
            steps.append(_clean(line))
        index += 1
    return index


def _is_label(line: str) -> bool:
    match = _LABELLED.match(line)
    return match is not None and (bool(match.group("sep")) or not match.group("value"))


def _validates(name: str, value: str) -> bool:
    """A label without a separator ("OS Windows 11", as an HTML table's cells read) counts
    only when its value is what the field holds."""
    pattern = {"browser": _BROWSER, "device": _DEVICE, "os": _OS}.get(name)
    if pattern is not None:
        return pattern.match(value) is not None
    return name == "app_version" and re.fullmatch(rf"v?{_VERSION}", value) is not None


def _clean(value: str) -> str:
    return " ".join(value.strip(" \t*_|`").split())


def _unlabelled(report: BugReport, lines: list[str]) -> BugReport:
    """Fills what no label gave from names in the text and from a list of steps."""
    text = "\n".join(lines)
    changes: dict[str, str] = {}
    for name, pattern in (("browser", _BROWSER), ("device", _DEVICE), ("os", _OS)):
        if not getattr(report, name):
            match = pattern.search(text)
            if match:
                changes[name] = " ".join(match.group(0).split())
    if not report.app_version:
        for match in _APP_VERSION.finditer(text):  # bounded by the text read
            if (match.group("before") or "").lower() not in _NOT_THE_APP:
                changes["app_version"] = match.group("v")
                break
    if not report.steps:
        changes["steps"] = "\n".join(_listed_steps(lines)[:MAX_STEPS])
    return replace(report, **changes) if changes else report


def _listed_steps(lines: list[str]) -> list[str]:
    """The first numbered list of two or more items, else the first bulleted one with an
    item that says what to do; label lines ("- Browser: Chrome") are not steps."""
    numbered: list[str] = []
    bulleted: list[str] = []
    chosen: list[str] = []
    for line in lines:  # bounded by the text read
        if _NUMBERED.match(line) and not _is_label(line):
            numbered.append(_clean(line))
            continue
        if len(numbered) >= 2:
            return numbered
        numbered = []
        bullet = _BULLET.match(line)
        if bullet and not _is_label(line):
            bulleted.append(_clean(bullet.group("item")))
            continue
        if not chosen and _acted(bulleted):
            chosen = bulleted
        bulleted = []
    if len(numbered) >= 2:
        return numbered
    return chosen or (bulleted if _acted(bulleted) else [])


def _acted(items: list[str]) -> bool:
    """Two or more bullets, one of which says what to do ("Open ...", "Click ...")."""
    return len(items) >= 2 and any(_ACTION.match(item) for item in items)


def describe(report: BugReport) -> str:
    """The report in a trace line: what was found, what is missing."""
    found = [f"steps ({len(report.steps.splitlines())} lines)" if report.steps else "",
             *(f"{label} {value}" for label, value in (
                 ("browser", report.browser), ("device", report.device), ("OS", report.os),
                 ("app version", report.app_version)) if value)]
    missing = [ASKS[name][0].lower() for name in missing_fields(report)]
    return (f"found {', '.join(f for f in found if f) or 'nothing'}; "
            f"missing {', '.join(missing) or 'nothing'}")
