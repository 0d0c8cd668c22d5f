"""How the store writes a moment: UTC, to the second, sortable as text."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    """A stored stamp as an aware UTC moment. `fromisoformat` (Python 3.11 reads the "Z"),
    not strptime: a reply's context parses a few of these, and it is thirty times faster;
    it also reads "+00:00" and fractions, which other writers of a row may have used."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
