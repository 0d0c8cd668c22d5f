"""A real Postfix in front of maildaemon, configured with the README's own lines.

Each test starts a private Postfix instance (its own config and queue directories in a temp
directory, `postfix -c DIR start`, listening on a free 127.0.0.1 port, its log in a file),
never the machine's. Postfix runs a pipe command only as an unprivileged user, so the pipe
runs `ingest` as `nobody`, who owns that test's data directory. Where `nobody` cannot reach
this venv's interpreter (a pyenv build under /root, say), the pipe runs the same code through
a venv made from the system's Python of the same version that adds this venv's packages.
The LMTP test runs `serve` on a unix socket with the README's `[smtp]` lines, reached by
Postfix's lmtp client (user `postfix`) through the socket's group and mode.
Skipped where Postfix is not installed or the tests do not run as root (starting Postfix
needs root); `.ci/run` installs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DOMAIN, ROOT, Installation, free_port, mail, wait_until

POSTFIX = shutil.which("postfix", path="/usr/sbin:/usr/bin:/sbin:/bin")
POSTQUEUE = shutil.which("postqueue", path="/usr/sbin:/usr/bin:/sbin:/bin")
PIPE_USER = "nobody"
MAILDAEMON = Path(sys.executable).parent / "maildaemon"

pytestmark = pytest.mark.skipif(
    POSTFIX is None or POSTQUEUE is None or os.geteuid() != 0,
    reason="needs Postfix (apt-get install postfix) and root to start a private instance")

# What the instance itself needs; everything about maildaemon comes from the README.
BASE_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.test.invalid
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
# Mail for anywhere else (a bounce to a customer, say) waits in the queue, where a test sees it.
defer_transports = smtp
minimal_backoff_time = 3600s
maximal_backoff_time = 3600s
"""
BASE_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def readme_block(first_line: str) -> str:
    """The README's code block that starts with `first_line` (a comment naming it)."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```\n(" + re.escape(first_line) + r"\n.*?)```", text, re.S)
    assert match, f"README.md has no block starting {first_line!r}"
    return match.group(1)


MASTER_PIPE = "# /etc/postfix/master.cf: maildaemon ingest as a pipe transport"
MAIN_PIPE = "# /etc/postfix/main.cf: our domain to maildaemon"
MAIN_SMTP = "# /etc/postfix/main.cf: our domain to maildaemon serve by SMTP"
RECIPIENTS = "support@healthsync.com OK"


class PrivatePostfix:
    def __init__(self, root: Path, main_cf: str, master_cf: str) -> None:
        self.root = root
        self.port = free_port()
        self.etc = root / "etc"
        for directory in (root, self.etc, root / "queue", root / "data"):
            directory.mkdir()
            directory.chmod(0o755)  # whatever the umask of this process
        shutil.chown(root / "data", "postfix")
        (self.etc / "main.cf").write_text(BASE_MAIN_CF.format(root=root) + main_cf)
        (self.etc / "master.cf").write_text(BASE_MASTER_CF.format(port=self.port) + master_cf)

    def start(self) -> None:
        self.postfix("start")
        wait_until(self._listening, 30, "Postfix to listen")

    def stop(self) -> None:
        pid_file = self.root / "queue" / "pid" / "master.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else 0
        subprocess.run([str(POSTFIX), "-c", str(self.etc), "stop"], capture_output=True,
                       timeout=60)
        if pid:
            wait_until(lambda: not _alive(pid), 30, "Postfix to stop")

    def postfix(self, *args: str) -> None:
        done = subprocess.run([str(POSTFIX), "-c", str(self.etc), *args],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"postfix {args}: {done.stderr}{self.log()}"

    def flush(self) -> None:
        """`postqueue -f`, as the README tells ops to run after an outage."""
        subprocess.run([str(POSTQUEUE), "-c", str(self.etc), "-f"], check=True, timeout=60)

    def queue(self) -> list[dict[str, Any]]:
        out = subprocess.run([str(POSTQUEUE), "-c", str(self.etc), "-j"], check=True,
                             capture_output=True, text=True, timeout=60).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def wait_deferred(self) -> dict[str, Any]:
        """The one queued message, once qmgr has moved it to the deferred queue.

        The maillog's `status=deferred` is written before the file moves, so a
        queue read right after the log line may still show it `active`.
        """
        def deferred() -> bool:
            queued = self.queue()
            return len(queued) == 1 and queued[0]["queue_name"] == "deferred"
        wait_until(deferred, 60, "a message in the deferred queue")
        [queued] = self.queue()
        return queued

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def send(self, rcpts: list[str], msg: bytes) -> dict[str, tuple[int, bytes]]:
        """The refused recipients, as smtplib reports them."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            return dict(client.sendmail("alice@example.org", rcpts, msg))

    def wait_delivered(self, count: int) -> None:
        wait_until(lambda: self.log().count("status=sent") >= count and not self.queue(),
                   60, f"{count} deliveries and an empty queue:\n{self.log()}")

    def _listening(self) -> bool:
        with contextlib.suppress(OSError), smtplib.SMTP("127.0.0.1", self.port, timeout=2):
            return True
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Under /tmp, not pytest's root-only tmp_path: Postfix's users must get through it."""
    root = Path(tempfile.mkdtemp(prefix="maildaemon-postfix-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


class PipeSetup:
    """A data directory owned by the pipe user, and `maildaemon` run as that user."""

    def __init__(self, root: Path, maildaemon: Path) -> None:
        self.root = root
        self.maildaemon = maildaemon
        self.home = root / "maildaemon"
        self.home.mkdir(mode=0o700)
        shutil.chown(self.home, PIPE_USER)
        self.config = root / "maildaemon.toml"
        self.config.write_text(f'[mail]\ndomain = "{DOMAIN}"\n[storage]\n'
                               f'data_dir = "{self.home / "data"}"\n[outbound]\n'
                               f'maildir = "{self.home / "outbound"}"\n')
        self.config.chmod(0o644)
        self.recipients = root / "maildaemon_recipients"
        self.recipients.write_text(readme_block(RECIPIENTS))
        self.recipients.chmod(0o644)

    def cli(self, *args: str) -> str:
        done = subprocess.run([str(self.maildaemon), "--config", str(self.config), *args],
                              user=PIPE_USER, cwd=self.root, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def tickets(self) -> list[dict[str, Any]]:
        return list(json.loads(self.cli("tickets", "--json")))

    def master_cf(self, readme_argv: bool = True) -> str:
        block = readme_block(MASTER_PIPE)
        block = block.replace("/opt/maildaemon/bin/maildaemon", str(self.maildaemon))
        block = block.replace("/etc/maildaemon/maildaemon.toml", str(self.config))
        block = block.replace("user=maildaemon", f"user={PIPE_USER}")
        assert f"argv={self.maildaemon} --config {self.config} ingest" in block, block
        if not readme_argv:  # the form the README used to give
            block = block.replace("--rcpt=${recipient}", "--rcpt ${recipient}")
        return block

    def main_cf(self) -> str:
        return readme_block(MAIN_PIPE).replace("/etc/postfix/maildaemon_recipients",
                                               str(self.recipients))

    def postfix(self, readme_argv: bool = True) -> PrivatePostfix:
        return PrivatePostfix(self.root / "postfix", self.main_cf(), self.master_cf(readme_argv))


@pytest.fixture
def pipe(workdir: Path) -> PipeSetup:
    return PipeSetup(workdir, maildaemon_for_pipe_user(workdir))


def maildaemon_for_pipe_user(workdir: Path) -> Path:
    """This venv's `maildaemon` if the pipe user can run it, else the shim venv's."""
    if _runs_as_pipe_user(MAILDAEMON):
        return MAILDAEMON
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system_python = shutil.which(version, path="/usr/bin:/usr/local/bin")
    if system_python is None:
        pytest.skip(f"{PIPE_USER} cannot run {MAILDAEMON}, and there is no system {version}")
    shim = workdir / "venv"
    subprocess.run([system_python, "-m", "venv", "--without-pip", str(shim)], check=True,
                   timeout=120)
    ours = Path(sys.prefix) / "lib" / version / "site-packages"
    (shim / "lib" / version / "site-packages" / "this-venv.pth").write_text(
        f"import site; site.addsitedir({str(ours)!r})\n")
    script = shim / "bin" / "maildaemon"
    script.write_text(f"#!{shim / 'bin' / 'python'}\n"
                      + MAILDAEMON.read_text().split("\n", 1)[1])
    script.chmod(0o755)
    if not _runs_as_pipe_user(script):
        pytest.skip(f"{PIPE_USER} can run neither {MAILDAEMON} nor {script}")
    return script


def _runs_as_pipe_user(program: Path) -> bool:
    try:
        return subprocess.run([str(program), "--help"], user=PIPE_USER, capture_output=True,
                              timeout=60).returncode == 0
    except OSError:
        return False


def two_of_ours_and_a_stranger() -> list[str]:
    return [f"support@{DOMAIN}", f"billing@{DOMAIN}", f"nobody-here@{DOMAIN}"]


def message(subject: str) -> bytes:
    return bytes(mail(subject=subject, to=f"support@{DOMAIN}, billing@{DOMAIN}"))


def assert_refused_at_rcpt(refused: dict[str, tuple[int, bytes]]) -> None:
    assert list(refused) == [f"nobody-here@{DOMAIN}"]
    assert refused[f"nobody-here@{DOMAIN}"][0] == 550


@pytest.mark.slow
def test_pipe_transport_one_ticket_for_two_addresses(pipe: PipeSetup) -> None:
    postfix = pipe.postfix()
    postfix.start()
    try:
        assert_refused_at_rcpt(postfix.send(two_of_ours_and_a_stranger(), message("Via pipe")))
        postfix.wait_delivered(2)  # both addresses, in one pipe run
        [ticket] = pipe.tickets()
        assert ticket["subject"] == "Via pipe"
        assert ticket["queue"] == "billing"  # routing.order sees both addresses
        assert "status=bounced" not in postfix.log()
        acks = list((pipe.home / "outbound" / "new").iterdir())
        assert len(acks) == 1
    finally:
        postfix.stop()


@pytest.mark.slow
def test_an_unwritable_data_dir_defers_and_postqueue_f_delivers(pipe: PipeSetup) -> None:
    data = pipe.home / "data"
    data.mkdir(mode=0o500)  # the service user may not write its own data directory
    shutil.chown(data, PIPE_USER)
    postfix = pipe.postfix()
    postfix.start()
    try:
        postfix.send([f"support@{DOMAIN}"], message("During the outage"))
        wait_until(lambda: "status=deferred" in postfix.log(), 60, "a deferral")
        queued = postfix.wait_deferred()
        assert "temporary failure" in queued["recipients"][0]["delay_reason"]
        data.chmod(0o700)
        postfix.flush()
        postfix.wait_delivered(1)
        assert [t["subject"] for t in pipe.tickets()] == ["During the outage"]
        assert "status=bounced" not in postfix.log()
    finally:
        postfix.stop()


@pytest.mark.slow
def test_a_wrong_pipe_argv_defers_instead_of_bouncing(pipe: PipeSetup) -> None:
    """`--rcpt ${recipient}`, two recipients: the second address reads as a file name."""
    postfix = pipe.postfix(readme_argv=False)
    postfix.start()
    try:
        postfix.send([f"support@{DOMAIN}", f"billing@{DOMAIN}"], message("Wrong argv"))
        wait_until(lambda: "status=deferred" in postfix.log(), 60, "a deferral")
        queued = postfix.wait_deferred()
        assert len(queued["recipients"]) == 2
        assert "status=bounced" not in postfix.log()
    finally:
        postfix.stop()


@pytest.mark.slow
def test_smtp_relay_to_serve_after_an_outage(workdir: Path, tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    recipients = workdir / "maildaemon_recipients"
    recipients.write_text(readme_block(RECIPIENTS))
    recipients.chmod(0o644)
    main_cf = readme_block(MAIN_SMTP).replace("/etc/postfix/maildaemon_recipients",
                                              str(recipients))
    main_cf = main_cf.replace("[127.0.0.1]:2525", f"[127.0.0.1]:{inst.port}")
    assert f"relay_transport = relay:[127.0.0.1]:{inst.port}" in main_cf
    postfix = PrivatePostfix(workdir / "postfix", main_cf, "")
    postfix.start()
    try:
        # The daemon is down: Postfix keeps the message.
        assert_refused_at_rcpt(postfix.send(two_of_ours_and_a_stranger(),
                                            message("Via SMTP")))
        wait_until(lambda: "status=deferred" in postfix.log(), 60, "a deferral")
        inst.start()
        postfix.flush()
        postfix.wait_delivered(2)
        [ticket] = inst.wait_processed(1)
        assert (ticket["subject"], ticket["queue"]) == ("Via SMTP", "billing")
        assert "status=bounced" not in postfix.log()
    finally:
        postfix.stop()
        inst.kill()


TOML_LMTP = "# /etc/maildaemon/maildaemon.toml: serve LMTP on a unix socket for Postfix"
MAIN_LMTP = "# /etc/postfix/main.cf: our domain to maildaemon serve by LMTP"
MASTER_LMTP = ("# /etc/postfix/master.cf: the LMTP client outside Postfix's chroot, "
               "to reach /run/maildaemon")
README_SOCKET = "/run/maildaemon/lmtp.sock"


@pytest.mark.slow
def test_lmtp_over_a_unix_socket_to_serve(workdir: Path, tmp_path: Path) -> None:
    """The README's three LMTP blocks as written (the socket's path substituted): Postfix's
    lmtp client, running as `postfix`, reaches the socket through its group and mode."""
    run = workdir / "run"  # /run/maildaemon, as systemd's RuntimeDirectoryMode=0755 makes it
    run.mkdir(mode=0o755)
    run.chmod(0o755)
    socket_path = run / "lmtp.sock"
    inst = Installation(tmp_path)
    toml = readme_block(TOML_LMTP)
    assert toml.count(README_SOCKET) == 1 and "[smtp]\n" in toml
    smtp_keys = toml.split("[smtp]\n", 1)[1].replace(README_SOCKET, str(socket_path))
    inst.config.write_text(inst.config.read_text().replace("[smtp]\n", "[smtp]\n" + smtp_keys))
    inst.unix_socket = socket_path
    recipients = workdir / "maildaemon_recipients"
    recipients.write_text(readme_block(RECIPIENTS))
    recipients.chmod(0o644)
    main_cf = readme_block(MAIN_LMTP).replace("/etc/postfix/maildaemon_recipients",
                                              str(recipients))
    main_cf = main_cf.replace(README_SOCKET, str(socket_path))
    assert f"relay_transport = lmtp:unix:{socket_path}" in main_cf
    postfix = PrivatePostfix(workdir / "postfix", main_cf, readme_block(MASTER_LMTP))
    inst.start()
    postfix.start()
    try:
        assert_refused_at_rcpt(postfix.send(two_of_ours_and_a_stranger(),
                                            message("Via LMTP")))
        postfix.wait_delivered(2)
        [ticket] = inst.wait_processed(1)
        assert (ticket["subject"], ticket["queue"]) == ("Via LMTP", "billing")
        log = postfix.log()
        assert "status=bounced" not in log
        # One LMTP reply per recipient, each naming it: Postfix logs them as it got them.
        for address in (f"support@{DOMAIN}", f"billing@{DOMAIN}"):
            assert re.search(rf"to=<{re.escape(address)}>, relay=[^ ]*"
                             rf"\[{re.escape(str(socket_path))}\]"
                             rf".*status=sent \(250 2\.0\.0 <{re.escape(address)}> OK queued",
                             log), log
    finally:
        postfix.stop()
        inst.kill()
