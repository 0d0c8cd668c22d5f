"""`ingest` as an MTA runs it: several recipients, and exit 75 for whatever is not the
message's fault (an MTA bounces the mail on any other failing exit code)."""

from __future__ import annotations

import json

from tests.conftest import DOMAIN, Installation, mail


def one_message() -> bytes:
    return bytes(mail(subject="Through the pipe", to=f"support@{DOMAIN}"))


def test_recipients_repeated_and_comma_separated(installation: Installation) -> None:
    # The To: header names support only; billing, first in routing.order, comes from the
    # envelope: the ticket is billing's only if every --rcpt value was read.
    installation.cli("ingest", "--sender=alice@example.org",
                     f"--rcpt=support@{DOMAIN},billing@{DOMAIN}", f"--rcpt=support@{DOMAIN}",
                     "-", stdin=one_message())
    [ticket] = installation.tickets()
    assert ticket["queue"] == "billing"


def nothing_spooled(inst: Installation) -> bool:
    return json.loads(inst.cli("spool", "ls", "--json").stdout) == [] and not inst.tickets()


def test_a_recipient_read_as_a_file_name_exits_75(installation: Installation) -> None:
    """`--rcpt ${recipient}` (no `=`) with two recipients: the second is a stray argument."""
    result = installation.cli("ingest", "--rcpt", f"support@{DOMAIN}", f"billing@{DOMAIN}",
                              "-", stdin=one_message(), check=False)
    assert result.returncode == 75, result.stderr
    assert f"not a readable file: billing@{DOMAIN}; exit 75" in result.stderr
    assert nothing_spooled(installation)


def test_a_bad_command_line_exits_75_for_ingest_only(installation: Installation) -> None:
    result = installation.cli("ingest", "--rcpt-to=x@y", "-", stdin=one_message(),
                              check=False)
    assert result.returncode == 75
    assert "unrecognized arguments: --rcpt-to=x@y" in result.stderr
    assert "the MTA keeps the message" in result.stderr
    other = installation.cli("tickets", "--no-such-option", check=False)
    assert other.returncode == 2  # by hand, a usage error is still one


def test_a_configuration_error_exits_75_for_ingest(installation: Installation) -> None:
    installation.config.write_text(installation.config.read_text() + "\n[no_such_section]\n")
    result = installation.cli("ingest", "-", stdin=one_message(), check=False)
    assert result.returncode == 75
    assert "configuration error" in result.stderr
    assert installation.cli("tickets", check=False).returncode == 78
