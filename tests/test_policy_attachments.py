"""The per-ticket attachment quota and type policy, with plain values."""

from __future__ import annotations

from maildaemon.policy.attachments import MIB, Candidate, Limits, Usage, judge, megabytes

LIMITS = Limits()


def file(name: str, size: int = 1000, kind: str = "image/png", declared: str = "",
         inline: bool = False, sha: str | None = None) -> Candidate:
    return Candidate(name, declared or kind, kind, size, sha or f"h-{name}", inline)


def test_sixth_file_is_refused_in_plain_words() -> None:
    verdicts = judge([file(f"s{i}.png") for i in range(6)], Usage(), LIMITS)
    assert [v.accepted for v in verdicts] == [True] * 5 + [False]
    assert verdicts[5].words == "s5.png: this ticket already has 5 files"


def test_files_already_on_the_ticket_count() -> None:
    [verdict] = judge([file("late.png")], Usage(files=5, bytes=5000), LIMITS)
    assert verdict.reason == "too_many_files"


def test_eleven_megabytes_is_over_the_per_file_limit() -> None:
    [verdict] = judge([file("video.mov", int(12.4 * MIB), "video/quicktime")], Usage(),
                      LIMITS)
    assert verdict.words == "video.mov: 12.4 MB is over the 10 MB limit per file"
    assert megabytes(10 * MIB) == "10 MB"
    assert megabytes(int(2.5 * MIB)) == "2.5 MB"


def test_ticket_total_of_fifty_megabytes() -> None:
    usage = Usage(files=3, bytes=45 * MIB)
    [verdict] = judge([file("big.pdf", 6 * MIB, "application/pdf")], usage, LIMITS)
    assert verdict.reason == "ticket_full"
    assert verdict.words == "big.pdf: the files on this ticket would exceed 50 MB"


def test_type_is_judged_by_content_and_the_mismatch_recorded() -> None:
    exe = file("invoice.pdf", kind="application/x-dosexec", declared="application/pdf")
    png_as_txt = file("notes.txt", kind="image/png", declared="text/plain")
    refused, taken = judge([exe, png_as_txt], Usage(), LIMITS)
    assert not refused.accepted and refused.words == "invoice.pdf: this file type is not accepted"
    assert refused.mismatch == ("declared application/pdf and named .pdf, but the content is "
                                "application/x-dosexec")
    assert taken.accepted
    assert taken.mismatch == "declared text/plain and named .txt, but the content is image/png"


def test_inline_images_are_not_files_are_stored_once_and_count_bytes() -> None:
    logo = file("logo.png", 2 * MIB, inline=True, sha="logo")
    first = judge([logo, *(file(f"f{i}.png") for i in range(5))], Usage(), LIMITS)
    assert all(v.accepted for v in first)
    usage = Usage(files=5, bytes=2 * MIB + 5000, inline_hashes=frozenset({"logo"}))
    [again] = judge([logo], usage, LIMITS)
    assert again.accepted and again.reason == "duplicate_inline"


def test_allow_list_is_configuration() -> None:
    only_pdf = Limits(allowed_types=frozenset({"application/pdf"}))
    [verdict] = judge([file("a.png")], Usage(), only_pdf)
    assert verdict.reason == "type_not_allowed"
