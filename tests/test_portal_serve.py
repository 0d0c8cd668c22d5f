"""Serve's side of the portal (issue 19, 1): its keys checked, its socket bound by serve (a
taken port is exit 78 naming the key), its child process supervised like the worker, and a
reload restarting it on the checked configuration. The routes have tests of their own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import assert_check_config_refuses, check_config, free_port, wait_until
from tests.portal_support import PortalInstallation


@pytest.mark.parametrize(("section", "key"), [
    ('[portal]\nlisten = "localhost"\n', "portal.listen"),
    ('[portal]\nlisten = "127.0.0.1:99999"\n', "portal.listen"),
    ('[portal]\npublic_url = "ftp://support.example.com"\n', "portal.public_url"),
    ('[portal]\nsession_hours = 0\n', "portal.session_hours"),
    ('[portal]\napi_token_file = "/nonexistent/token"\n', "portal.api_token_file"),
])
def test_check_config_names_a_bad_portal_key(tmp_path: Path, section: str, key: str) -> None:
    assert_check_config_refuses(tmp_path, section, key)


def test_a_short_api_token_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("secret\n")
    assert_check_config_refuses(tmp_path, f'[portal]\napi_token_file = "{token}"\n',
                                "portal.api_token_file")


def test_a_good_portal_section_passes(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("x" * 32 + "\n")
    result = check_config(tmp_path, f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
                          f'[portal]\nlisten = "127.0.0.1:{free_port()}"\n'
                          f'public_url = "https://support.example.com"\n'
                          f'api_token_file = "{token}"\n')
    assert result.returncode == 0, result.stderr


def portal_pid(inst: PortalInstallation) -> int:
    """The pid of serve's `maildaemon portal` child."""
    assert inst.proc is not None

    def child() -> int | None:
        out = subprocess.run(["pgrep", "-P", str(inst.proc.pid if inst.proc else 0), "-f",
                              "maildaemon.* portal"], capture_output=True, text=True).stdout
        return int(out.split()[0]) if out.split() else None

    return int(wait_until(child, 15, "the portal process"))


@pytest.mark.slow
def test_a_taken_portal_port_is_exit_78(tmp_path: Path) -> None:
    inst = PortalInstallation(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", inst.http_port))
        taken.listen(1)
        result = subprocess.run(
            [sys.executable, "-m", "maildaemon", "--config", str(inst.config), "serve"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 78, result.stderr
    assert "portal.listen" in result.stderr


@pytest.mark.slow
def test_the_portal_is_restarted_after_dying_and_after_a_reload(tmp_path: Path) -> None:
    inst = PortalInstallation(tmp_path)
    inst.start()
    try:
        first = portal_pid(inst)
        os.kill(first, signal.SIGKILL)
        second = wait_until(lambda: (p := portal_pid(inst)) != first and p, 20,
                            "a new portal process")
        wait_until(lambda: httpx.get(inst.url + "/healthz", timeout=2).status_code == 200,
                   20, "the restarted portal to answer")
        assert inst.proc is not None
        inst.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: (p := portal_pid(inst)) not in (first, second) and p, 20,
                   "the portal restarted by the reload")
        wait_until(lambda: httpx.get(inst.url + "/healthz", timeout=2).status_code == 200,
                   20, "the reloaded portal to answer")
        assert "portal process exited" in inst.log.read_text()
    finally:
        assert inst.stop() == 0
    # The child went with serve: nothing answers any more.
    time.sleep(0.2)
    with pytest.raises(httpx.HTTPError):
        httpx.get(inst.url + "/healthz", timeout=2)


@pytest.mark.slow
def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    inst = PortalInstallation(tmp_path)
    inst.start()
    try:
        for path in ("/healthz", "/static/portal.css", "/no/such/page"):
            response = httpx.get(inst.url + path, timeout=10)
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["cache-control"] == "no-store", path
        assert httpx.get(inst.url + "/no/such/page", timeout=10).status_code == 404
    finally:
        inst.stop()
