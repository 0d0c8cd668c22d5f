"""Property-based tests at the parser edge: whatever bytes arrive, the worker neither crashes
nor loses them; each message ends as a ticket message, an automatic-mail record, a duplicate
or a held spool entry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildaemon.config import config_from_dict
from maildaemon.parse import parse_mail
from maildaemon.spool import Incoming, Spool
from maildaemon.store import Store
from maildaemon.worker import Worker

OUTCOMES = {"new_ticket", "followup", "automatic_on_ticket", "automatic", "duplicate", "held",
            "pending"}
HEADER_NAMES = ["From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References",
                "Date", "Content-Type", "Content-Transfer-Encoding", "MIME-Version",
                "Auto-Submitted", "Precedence", "List-Id", "Return-Path", "Reply-To",
                "Content-Disposition", "X-Garbage"]
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "gb2312", "shift_jis", "koi8-r",
            "x-unknown", "utf-7", ""]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus"]
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Spool, Worker]]:
    data = Path(tmp_path_factory.mktemp("prop")) / "data"
    config = config_from_dict({"storage": {"data_dir": str(data)}})
    spool = Spool(config.data_dir)
    yield spool, Worker(config, spool, Store(config.data_dir),
                        lambda: datetime(2026, 11, 28, tzinfo=UTC))


def run_through(pipeline: tuple[Spool, Worker], raw: bytes, sender: str | None) -> str:
    spool, worker = pipeline
    [spool_id] = spool.put_many([Incoming(sender, ("support@healthsync.com",), raw, "prop")])
    [result] = worker.process_entries(spool.claim_named([spool_id]))
    assert result.outcome in OUTCOMES, result
    if result.outcome in ("held", "pending"):
        [row] = [r for r in spool.rows() if r.spool_id == spool_id]
        assert row.error, "a message kept back must say why"
    else:
        assert all(r.spool_id != spool_id for r in spool.rows()), "processed but still spooled"
    return result.outcome


text_bytes = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"=?utf-8?q?caf=C3=A9?=", b"=?bogus?b?!!!?=", b"<a@b>", b"\xff\xfe",
                     b"HS-123456", b"a@b.org, <c@d.org>", b'"x" <>', b"\r\n\tcontinued"]),
)


@st.composite
def header_soup(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.sampled_from(HEADER_NAMES) | st.binary(min_size=1, max_size=12))
        name_bytes = name.encode() if isinstance(name, str) else name
        lines.append(name_bytes + b": " + draw(text_bytes))
    newline = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    return newline.join(lines) + newline + newline + draw(st.binary(max_size=300))


@st.composite
def mime_tree(draw: st.DrawFn, depth: int = 0) -> bytes:
    if depth < 3 and draw(st.booleans()):
        boundary = draw(st.sampled_from(["b1", "==x==", "", "a" * 80]))
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report", "x"]))
        parts = [draw(mime_tree(depth + 1)) for _ in range(draw(st.integers(0, 3)))]
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
        if draw(st.booleans()):
            body += b"--" + boundary.encode() + b"--\r\n"
        header = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'
        return header.encode() + body
    ctype = draw(st.sampled_from(["text/plain", "text/html", "application/octet-stream",
                                  "message/rfc822", "image/png", "application/ms-tnef"]))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    disposition = draw(st.sampled_from(["", "attachment; filename=\"../../x.exe\"",
                                        "inline", "attachment; filename*=utf-8''%E2%80%AE"]))
    head = f"Content-Type: {ctype}; charset={charset}\r\nContent-Transfer-Encoding: {encoding}\r\n"
    if disposition:
        head += f"Content-Disposition: {disposition}\r\n"
    return head.encode() + b"\r\n" + draw(st.binary(max_size=200))


@SETTINGS
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes(worker: tuple[Spool, Worker], raw: bytes) -> None:
    parse_mail(raw)
    run_through(worker, raw, None)


@SETTINGS
@given(raw=header_soup(), sender=st.sampled_from([None, "", "a@example.org"]))
def test_header_soup(worker: tuple[Spool, Worker], raw: bytes, sender: str | None) -> None:
    run_through(worker, raw, sender)


@SETTINGS
@given(tree=mime_tree(), subject=text_bytes)
def test_random_mime_trees(worker: tuple[Spool, Worker], tree: bytes, subject: bytes) -> None:
    raw = (b"From: Customer <customer@example.org>\r\nTo: support@healthsync.com\r\n"
           b"Subject: " + subject + b"\r\nMIME-Version: 1.0\r\n" + tree)
    outcome = run_through(worker, raw, "customer@example.org")
    assert outcome != "held"
