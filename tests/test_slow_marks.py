"""`make quick` skips the tests marked slow, so every test that starts a daemon must carry it.

tests/conftest.py refuses to start `maildaemon serve` for a test without the mark; this
shows that refusal happens (and costs no process: it comes before the start).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Installation


def test_an_unmarked_test_may_not_start_the_daemon(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    with pytest.raises(AssertionError, match="mark it slow"):
        inst.start()
    assert inst.proc is None


@pytest.mark.slow
def test_a_marked_test_may(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    try:
        inst.start()
        assert inst.proc is not None and inst.proc.poll() is None
    finally:
        inst.kill()
