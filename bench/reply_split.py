"""Splitting one 2 KB reply: the cut before issue 17 and the reply model, in microseconds.

    .venv/bin/python bench/reply_split.py

The worker splits every reply it takes; the budget is a few hundred microseconds for a
2 KB one. Both are timed on the same Gmail-layout reply (own text, an attribution, a
quoted acknowledgement, an inline answer) and on an inline one; each call 500 times after a
warm-up, the median printed. Not part of `bench/run.py`: it is seconds, single-threaded,
and tells nothing about the daemon under load.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

from maildaemon.policy.quoting import own_text

# quoting.own_text before issue 17: one pass to the first line that starts quoted history.
_SP = r"[^\S\n]*"
_OLD_HISTORY_START = re.compile(
    rf"^{_SP}(?:"
    r">"
    r"|(?:on\b.*\bwrote:|am\b.*\bschrieb\b.*:|le\b.*\ba écrit[^\S\n]*:|el\b.*\bescribió:"
    rf"|op\b.*\bschreef\b.*:){_SP}$"
    rf"|-{{2,}}{_SP}(?:original message|ursprüngliche nachricht|message d'origine)"
    rf"{_SP}-{{2,}}{_SP}$"
    rf"|(?:from|von|de){_SP}:{_SP}\S.*\n{_SP}(?:sent|gesendet|envoyé|date){_SP}:{_SP}\S"
    r")",
    re.IGNORECASE | re.MULTILINE,
)


def old_own_text(text: str) -> str:
    lines = text.replace("\r\n", "\n")
    found = _OLD_HISTORY_START.search(lines)
    return lines[:found.start()].strip() if found else text.strip()


QUOTED = "\n".join(f"> {line}" for line in (
    "Hello Ann Walker,", "",
    "Thank you for writing to us. Your request is now ticket HS-796165 with our support",
    "team. We will answer within 4 business hours.", "",
    "Subject: Sync stops after a few minutes", "Priority: normal", "",
    "To add information, simply reply to this email and keep HS-796165 in the subject line.",
    "Please do not open a new request for the same issue: it would only slow us down.", "",
    "The support team", "support@healthsync.com"))
OWN = ("The sync stopped again this morning at 8:05.\n"
       "I restarted the app twice, but it still shows \"Waiting for server\".\n\n"
       "The heart rate data from yesterday is missing too. I attached the log of the app\n"
       "and a screenshot of the settings page, as you asked last time.\n")


def two_kb(text: str) -> str:
    """The text repeated (as a longer quoted history) up to 2,048 characters."""
    while len(text) < 2048:
        text += "\n" + QUOTED
    return text[:2048]


TOP = two_kb(f"{OWN}\nBest regards,\nAnn\n\n"
             "On Mon, Nov 30, 2026 at 8:14 AM Support team <support@healthsync.com> wrote:\n\n"
             f"{QUOTED}")
INLINE = two_kb("Hi Maria,\n\nmy answers are below.\n\nOn Mon, Nov 30, 2026 at 8:14 AM "
                "Support team <support@healthsync.com> wrote:\n\n"
                f"{QUOTED}\n\nVersion 4.2.1 on Android 15.\n\n{QUOTED}\n\n{OWN}\n{QUOTED}")


def median_us(split: Callable[[str], str], text: str, runs: int = 500) -> float:
    split(text)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        split(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main() -> None:
    print(f"{'reply (2,048 characters)':28} {'before #17 (cut)':>18} {'reply model':>14}")
    for name, text in (("top-posted, Gmail", TOP), ("inline answers", INLINE)):
        print(f"{name:28} {median_us(old_own_text, text):15.1f} µs "
              f"{median_us(own_text, text):11.1f} µs")


if __name__ == "__main__":
    main()
