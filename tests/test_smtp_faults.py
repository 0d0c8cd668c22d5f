"""Internal errors at the SMTP edge answer 451, never 5xx, and lose nothing already accepted.

These run our real handler and protocol on a real 127.0.0.1 listener inside the test's own
event loop, with a spool whose disk fails mid-session.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildaemon.config import Config
from maildaemon.smtp_in import EdgeSMTP, GroupCommitter, Handler
from maildaemon.spool import Spool
from maildaemon.worker import policy_settings
from tests.conftest import ServerThread, mail


class Listener(ServerThread):
    def __init__(self, spool: Spool, size_limit: int = 78_643_200) -> None:
        self.spool = spool
        self.committer = GroupCommitter(spool)
        handler = Handler(policy_settings(Config()), self.committer)
        super().__init__(lambda loop: EdgeSMTP(handler, set(), hostname="test", ident="ESMTP",
                                               loop=loop, data_size_limit=size_limit))

    def close(self) -> None:
        super().close()
        self.committer.close()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    lst = Listener(Spool(tmp_path))
    yield lst
    lst.close()


def test_spool_failure_during_data_answers_451_and_keeps_earlier_mail(
    listener: Listener, tmp_path: Path
) -> None:
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        client.send_message(mail(subject="before the fault"))
        listener.spool.conn.close()  # the disk goes away under the edge
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.send_message(mail(subject="during the fault"))
        assert info.value.smtp_code == 451
        assert info.value.smtp_error.startswith(b"4.3.0")
        # The session is still usable: the client can try again on the same connection.
        code, _ = client.mail("again@example.org")
        assert code == 250
        client.rset()
    survivor = Spool(tmp_path)
    [row] = survivor.rows()
    assert row.state == "pending"
    entry = survivor.claim()
    assert entry is not None and b"before the fault" in entry.raw
