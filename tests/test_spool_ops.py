"""Issue 14, `maildaemon spool show ID` and `spool purge ID`, run as ops run them: the real
CLI as a subprocess on a real spool file (spool_cli.py, spool_admin.py)."""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
import sys
from pathlib import Path

from maildaemon.spool import Incoming, Spool
from tests.conftest import Installation

# As Apple Mail writes it (German, RFC 2047 words, RFC 2231 file name), cut off before its
# closing boundary: the parser's defect is what `show` must report.
APPLE_MAIL_CUT = b"""\
From: =?utf-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>
Content-Type: multipart/mixed;
\tboundary="Apple-Mail=_5B1C"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3731.700.6\\))
Subject: =?utf-8?Q?Rechnung_f=C3=BCr_November?=
Message-Id: <5B1C-4A@example.de>
Date: Mon, 30 Nov 2026 09:12:44 +0100
To: billing@healthsync.com
X-Mailer: Apple Mail (2.3731.700.6)

--Apple-Mail=_5B1C
Content-Transfer-Encoding: quoted-printable
Content-Type: text/plain;
\tcharset=utf-8

Vertraulich: meine Diagnose steht im Befund.
--Apple-Mail=_5B1C
Content-Disposition: attachment;
\tfilename*=utf-8''Befund%20M%C3%A4rz.pdf
Content-Type: application/pdf;
\tname="Befund.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
""".replace(b"\n", b"\r\n")

# As Outlook writes a plain one; a control character in the subject, as a hostile sender
# might put there to rewrite an operator's terminal.
OUTLOOK_PLAIN = (
    b"From: Ana Silva <ana@example.pt>\r\nTo: support@healthsync.com\r\n"
    b"Subject: =?iso-8859-1?Q?N=E3o_consigo_entrar?= \x1b[2J\r\n"
    b"Thread-Topic: Nao consigo entrar\r\nX-MS-Has-Attach: \r\n"
    b"Message-ID: <DB9PR01MB1234@DB9PR01MB1234.eurprd01.prod.outlook.com>\r\n"
    b"Date: Mon, 30 Nov 2026 08:00:00 +0000\r\nContent-Type: text/plain; "
    b"charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    b"MIME-Version: 1.0\r\n\r\nOl=E1, a minha senha n=E3o funciona.\r\n")


def data_dir(inst: Installation) -> Path:
    return inst.tmp / "data"


def put(inst: Installation, raw: bytes, held: bool = False) -> str:
    """An entry as the edge stores it; held as the worker leaves it after 3 failures."""
    spool = Spool(data_dir(inst), max_attempts=3)
    try:
        spool_id = spool.put(Incoming("juergen@example.de", ("billing@healthsync.com",),
                                      raw, "203.0.113.7"))
        for _ in range(3 if held else 0):
            entry = spool.claim(spool_id)
            assert entry is not None
            spool.release(entry.id, "ValueError: no usable text part")
        return spool_id
    finally:
        spool.close()


def states(inst: Installation) -> dict[str, str]:
    return {row["spool_id"]: row["state"]
            for row in json.loads(inst.cli("spool", "ls", "--json").stdout)}


def test_show_prints_envelope_headers_reason_and_defects_never_the_body(
        installation: Installation) -> None:
    spool_id = put(installation, APPLE_MAIL_CUT, held=True)
    text = installation.cli("spool", "show", spool_id).stdout
    assert f"{spool_id}  held  received " in text and "from peer 203.0.113.7" in text
    assert "MAIL FROM <juergen@example.de>" in text
    assert "RCPT TO <billing@healthsync.com>" in text
    assert "attempts 3" in text
    assert "reason: failed 3 times; last error: ValueError: no usable text part" in text
    assert "  From: Jürgen Müller <juergen@example.de>" in text
    assert "  Subject: Rechnung für November" in text
    assert "application/pdf  9 bytes  Befund März.pdf" in text
    assert "message: CloseBoundaryNotFoundDefect: A start boundary was found" in text
    assert "Diagnose" not in text and "JVBER" not in text

    data = json.loads(installation.cli("spool", "show", spool_id, "--json").stdout)
    assert data["state"] == "held" and data["attempts"] == 3
    assert data["rcpt_tos"] == ["billing@healthsync.com"]
    assert ["Subject", "Rechnung für November"] in data["headers"]
    assert [d["defect"] for d in data["defects"]] == ["CloseBoundaryNotFoundDefect"]
    assert data["parts"] == [
        {"content_type": "text/plain", "filename": None, "size": 44},
        {"content_type": "application/pdf", "filename": "Befund März.pdf", "size": 9}]
    assert "Diagnose" not in json.dumps(data, ensure_ascii=False)


def test_show_escapes_control_characters_and_reports_no_defects(
        installation: Installation) -> None:
    spool_id = put(installation, OUTLOOK_PLAIN)
    text = installation.cli("spool", "show", spool_id).stdout
    assert "\x1b" not in text
    assert "Subject: Não consigo entrar \\x1b[2J" in text
    assert f"{spool_id}  pending" in text and "defects: none" in text
    assert "senha" not in text


def test_show_and_purge_of_an_unknown_id_exit_1(installation: Installation) -> None:
    for action in (["show"], ["purge", "--yes"]):
        result = installation.cli("spool", *action, "20261130000000DEADBEEF00", check=False)
        assert result.returncode == 1
        assert "no spool entry 20261130000000DEADBEEF00" in result.stderr


def test_purge_keeps_the_bytes_privately_and_removes_the_entry(
        installation: Installation) -> None:
    spool_id = put(installation, APPLE_MAIL_CUT, held=True)
    other = put(installation, OUTLOOK_PLAIN)
    result = installation.cli("spool", "purge", spool_id, "--yes")
    kept = data_dir(installation) / "purged" / f"{spool_id}.eml"
    assert f"{spool_id} purged; its bytes are in {kept}" in result.stdout
    assert f"spool entry {spool_id} (held, {len(APPLE_MAIL_CUT)} bytes, 3 attempts) " \
           "purged by" in result.stderr
    assert kept.read_bytes() == APPLE_MAIL_CUT
    envelope = json.loads(kept.with_name(f"{spool_id}.envelope.json").read_text())
    assert envelope["mail_from"] == "juergen@example.de"
    assert envelope["rcpt_tos"] == ["billing@healthsync.com"]
    assert envelope["error"].startswith("failed 3 times")
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert states(installation) == {other: "pending"}
    # Pending entries may go too (a mail bomb before the worker gets to it).
    installation.cli("spool", "purge", other, "--yes")
    assert states(installation) == {}


def test_purge_without_a_terminal_or_yes_refuses(installation: Installation) -> None:
    spool_id = put(installation, OUTLOOK_PLAIN, held=True)
    result = installation.cli("spool", "purge", spool_id, check=False)
    assert result.returncode == 2
    assert "no terminal to ask on; give --yes" in result.stderr
    assert states(installation) == {spool_id: "held"}
    assert not (data_dir(installation) / "purged").exists()


def test_purge_of_a_claimed_entry_is_refused(installation: Installation) -> None:
    spool_id = put(installation, OUTLOOK_PLAIN)
    spool = Spool(data_dir(installation))
    try:
        assert spool.claim(spool_id) is not None  # as the worker does, this process alive
        result = installation.cli("spool", "purge", spool_id, "--yes", check=False)
    finally:
        spool.close()
    assert result.returncode == 75
    assert "is claimed: the worker is processing it" in result.stderr
    assert states(installation) == {spool_id: "claimed"}
    assert not (data_dir(installation) / "purged" / f"{spool_id}.eml").exists()


def confirm_on_terminal(inst: Installation, spool_id: str, answer: bytes
                        ) -> subprocess.CompletedProcess[bytes]:
    """`spool purge ID` with a terminal on stdin that has `answer` typed into it."""
    leader, follower = pty.openpty()
    try:
        os.write(leader, answer)
        return subprocess.run(
            [sys.executable, "-m", "maildaemon", "--config", str(inst.config), "spool",
             "purge", spool_id], stdin=follower, capture_output=True, timeout=60,
            check=False)
    finally:
        os.close(follower)
        os.close(leader)


def test_purge_on_a_terminal_asks_first(installation: Installation) -> None:
    spool_id = put(installation, OUTLOOK_PLAIN, held=True)
    declined = confirm_on_terminal(installation, spool_id, b"n\n")
    assert declined.returncode == 2
    assert b"Purge " + spool_id.encode() + b"?" in declined.stdout
    assert b"not purged" in declined.stderr
    assert states(installation) == {spool_id: "held"}
    accepted = confirm_on_terminal(installation, spool_id, b"y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert states(installation) == {}
    assert (data_dir(installation) / "purged" / f"{spool_id}.eml").read_bytes() \
        == OUTLOOK_PLAIN
