"""Inbound STARTTLS (issue 14, point 8): a real `maildaemon serve` with a certificate made
for the test by a throwaway CA (trustme), spoken to with smtplib as a sending MTA would.

The certificate renewal is tested on a real listener in this process (`TlsHolder.reload`
is what SIGHUP calls); the rest against the real daemon.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from maildaemon.config import SmtpSection, config_from_dict
from maildaemon.edge_tls import MINIMUM_VERSION, TlsHolder, build_context, tls_problem
from maildaemon.smtp_in import EdgeSMTP, GroupCommitter, Handler
from maildaemon.spool import Spool
from maildaemon.worker import policy_settings
from tests.conftest import (
    DOMAIN,
    ROOT,
    Installation,
    assert_check_config_refuses,
    check_config,
    mail,
    wait_until,
)

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_pair(ca: trustme.CA, directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A new certificate for 127.0.0.1 (and its key) from `ca`, as PEM files."""
    issued = ca.issue_cert(HOST, "localhost")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    return cert, key


def der(cert: Path) -> bytes:
    """The first certificate of a PEM file, DER-encoded as getpeercert() gives it."""
    text = cert.read_text()
    return ssl.PEM_cert_to_DER_cert(text[: text.index("-----END CERTIFICATE-----") + 25])


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def tls_daemon(tmp: Path, ca: trustme.CA, require_tls: bool) -> Installation:
    inst = Installation(tmp)
    cert, key = write_pair(ca, tmp)
    text = inst.config.read_text()
    inst.config.write_text(text.replace(
        "drain_seconds = 10.0",
        f'drain_seconds = 10.0\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        f"require_tls = {'true' if require_tls else 'false'}"))
    inst.start()
    return inst


@pytest.fixture(scope="module")
def offered(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[Installation]:
    inst = tls_daemon(tmp_path_factory.mktemp("tls"), ca, require_tls=False)
    yield inst
    inst.kill()


@pytest.fixture(scope="module")
def required(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[Installation]:
    inst = tls_daemon(tmp_path_factory.mktemp("require"), ca, require_tls=True)
    yield inst
    inst.kill()


@pytest.mark.slow
def test_mail_over_starttls_becomes_a_ticket(offered: Installation, ca: trustme.CA) -> None:
    with smtplib.SMTP(HOST, offered.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=client_context(ca))
        assert client.sock is not None
        assert isinstance(client.sock, ssl.SSLSocket)
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        client.send_message(mail(subject="Sent over TLS"))
    assert [t["subject"] for t in offered.wait_processed(1)] == ["Sent over TLS"]


@pytest.mark.slow
def test_auth_is_never_advertised_nor_accepted(offered: Installation, ca: trustme.CA) -> None:
    with smtplib.SMTP(HOST, offered.port, timeout=10) as client:
        _, before = client.ehlo()
        client.starttls(context=client_context(ca))
        _, after = client.ehlo()
        code, text = client.docmd("AUTH", "PLAIN AGFsaWNlAHNlY3JldA==")
    assert b"STARTTLS" in before and b"STARTTLS" not in after
    assert b"AUTH" not in before.upper() and b"AUTH" not in after.upper()
    assert code == 502, text


@pytest.mark.slow
def test_tls_1_1_is_refused(offered: Installation, ca: trustme.CA) -> None:
    with warnings.catch_warnings():  # TLSv1_1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        permissive.minimum_version = ssl.TLSVersion.TLSv1_1
        permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    ca.configure_trust(old)
    ca.issue_cert(HOST).configure_cert(permissive)
    # The control: this client does speak TLS 1.1 to a server that allows it ...
    assert handshake_with(permissive, old) == "TLSv1.1"
    # ... and our daemon refuses it.
    with smtplib.SMTP(HOST, offered.port, timeout=10) as client:
        client.ehlo()
        with pytest.raises((ssl.SSLError, ConnectionError)):
            client.starttls(context=old)
    with smtplib.SMTP(HOST, offered.port, timeout=10) as client:
        client.ehlo()
        client.starttls(context=client_context(ca))  # TLS 1.2+ still fine
        assert client.noop()[0] == 250
    wait_until(lambda: "unsupported protocol" in offered.log.read_text(), 10, "the log line")
    assert "Traceback" not in offered.log.read_text()


def handshake_with(server: ssl.SSLContext, client: ssl.SSLContext) -> str | None:
    listener = socket.create_server((HOST, 0))
    result: list[str | None] = []

    def accept() -> None:
        conn, _ = listener.accept()
        with server.wrap_socket(conn, server_side=True) as tls:
            result.append(tls.version())

    thread = threading.Thread(target=accept)
    thread.start()
    with socket.create_connection(listener.getsockname(), timeout=10) as raw, \
            client.wrap_socket(raw, server_hostname=HOST) as tls:
        version = tls.version()
    thread.join(10)
    listener.close()
    assert result == [version]
    return version


@pytest.mark.slow
def test_require_tls_refuses_mail_before_starttls(required: Installation,
                                                  ca: trustme.CA) -> None:
    with smtplib.SMTP(HOST, required.port, timeout=10) as client:
        client.ehlo()
        code, text = client.mail("alice@example.org")
        assert (code, text) == (530, b"5.7.0 Must issue a STARTTLS command first")
        assert client.noop()[0] == 250  # the session goes on: the client may upgrade
        client.starttls(context=client_context(ca))
        client.ehlo()
        assert client.mail("alice@example.org")[0] == 250
        assert client.rcpt(f"support@{DOMAIN}")[0] == 250
        assert client.data(mail(subject="Required TLS").as_bytes())[0] == 250
    assert [t["subject"] for t in required.wait_processed(1)] == ["Required TLS"]


@pytest.mark.slow
def test_serve_with_an_unusable_certificate_exits_78_naming_the_key(
    tmp_path: Path, ca: trustme.CA,
) -> None:
    inst = Installation(tmp_path)
    cert, key = write_pair(ca, tmp_path)
    key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    inst.config.write_text(inst.config.read_text().replace(
        "drain_seconds = 10.0", f'tls_cert = "{cert}"\ntls_key = "{key}"'))
    result = subprocess.run(
        [sys.executable, "-m", "maildaemon", "--config", str(inst.config), "serve"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 78, result.stderr
    assert "smtp.tls_key" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("smtp", "key"), [
    ('tls_cert = "/etc/hostname"', "smtp.tls_key"),
    ('tls_key = "/etc/hostname"', "smtp.tls_cert"),
    ("require_tls = true", "smtp.require_tls"),
    ('tls_cert = "/nonexistent/cert.pem"\ntls_key = "/nonexistent/key.pem"', "smtp.tls_cert"),
])
def test_check_config_refuses_tls_settings(tmp_path: Path, smtp: str, key: str) -> None:
    assert_check_config_refuses(tmp_path, f"[smtp]\n{smtp}\n", key)


def test_check_config_names_the_file_that_is_wrong(tmp_path: Path, ca: trustme.CA) -> None:
    cert, key = write_pair(ca, tmp_path)
    other_cert, other_key = write_pair(ca, tmp_path, "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [(garbage, key, "smtp.tls_cert"), (cert, garbage, "smtp.tls_key"),
             (cert, other_key, "smtp.tls_key"), (key, key, "smtp.tls_cert")]
    for bad_cert, bad_key, named in cases:
        result = check_config(tmp_path, f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
                                        f'[smtp]\ntls_cert = "{bad_cert}"\n'
                                        f'tls_key = "{bad_key}"\n')
        assert result.returncode == 78, (bad_cert, bad_key, result.stderr)
        assert named in result.stderr and "Traceback" not in result.stderr
    good = check_config(tmp_path, f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
                                  f'[smtp]\ntls_cert = "{other_cert}"\ntls_key = "{other_key}"\n')
    assert good.returncode == 0, good.stderr


def test_the_context_speaks_tls_1_2_at_least(tmp_path: Path, ca: trustme.CA) -> None:
    cert, key = write_pair(ca, tmp_path)
    context = build_context(str(cert), str(key))
    assert context.minimum_version == MINIMUM_VERSION == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE  # senders have no client certificates
    assert tls_problem(SmtpSection(tls_cert=str(cert), tls_key=str(key))) is None


# -- a renewed certificate, without a restart ----------------------------------------------

class Listener:
    """A real EdgeSMTP listener on 127.0.0.1 in a thread of this process."""

    def __init__(self, tmp: Path, tls: TlsHolder) -> None:
        self.loop = asyncio.new_event_loop()
        config = config_from_dict({"mail": {"domain": DOMAIN}})
        self.committer = GroupCommitter(Spool(tmp / "data"))
        handler = Handler(policy_settings(config), self.committer)
        self.connections: set[EdgeSMTP] = set()
        self.server = self.loop.run_until_complete(self.loop.create_server(
            lambda: EdgeSMTP(handler, self.connections, tls=tls, hostname="edge.test",
                             decode_data=False, loop=self.loop),
            HOST, 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever)
        self.thread.start()

    def close(self) -> None:
        async def shut() -> None:
            self.server.close()
            for conn in list(self.connections):
                conn.hang_up()
            await self.server.wait_closed()
            for _ in range(200):  # bounded: the hang-ups complete in a few turns
                if not self.connections:
                    break
                await asyncio.sleep(0.01)

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.committer.close()


def peer_certificate(client: smtplib.SMTP, ca: trustme.CA) -> bytes:
    client.starttls(context=client_context(ca))
    assert isinstance(client.sock, ssl.SSLSocket)
    seen = client.sock.getpeercert(binary_form=True)
    assert seen is not None
    return seen


def test_reload_gives_new_connections_the_renewed_certificate(
    tmp_path: Path, ca: trustme.CA,
) -> None:
    cert, key = write_pair(ca, tmp_path)
    first = der(cert)
    smtp = SmtpSection(tls_cert=str(cert), tls_key=str(key))
    holder = TlsHolder.from_config(smtp)
    listener = Listener(tmp_path, holder)
    try:
        with smtplib.SMTP(HOST, listener.port, timeout=10) as before:
            before.ehlo()  # open before the renewal: keeps the context it was made with
            renewed_cert, renewed_key = write_pair(ca, tmp_path, "renewed")
            cert.write_bytes(renewed_cert.read_bytes())
            key.write_bytes(renewed_key.read_bytes())
            second = der(cert)
            assert second != first
            assert holder.reload(smtp) is None
            assert peer_certificate(before, ca) == first
        with smtplib.SMTP(HOST, listener.port, timeout=10) as after:
            after.ehlo()
            assert peer_certificate(after, ca) == second
        # A renewal gone wrong is refused, naming the key; the certificate in force stays.
        key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        error = holder.reload(smtp)
        assert error is not None and "smtp.tls_key" in error
        with smtplib.SMTP(HOST, listener.port, timeout=10) as later:
            later.ehlo()
            assert peer_certificate(later, ca) == second
    finally:
        listener.close()


def test_the_packaged_config_offers_no_tls() -> None:
    """STARTTLS needs a certificate the operator provides: off until both are set."""
    result = subprocess.run([sys.executable, "-m", "maildaemon", "check-config"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"tls_cert": ""' in result.stdout and '"require_tls": false' in result.stdout


def test_an_encrypted_key_is_refused_naming_the_key(tmp_path: Path, ca: trustme.CA) -> None:
    """A daemon has nobody to type a passphrase: said at once, not asked on a terminal."""
    from cryptography.hazmat.primitives import serialization

    cert, key = write_pair(ca, tmp_path)
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    key.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    problem = tls_problem(SmtpSection(tls_cert=str(cert), tls_key=str(key)))
    assert problem is not None and problem.startswith("smtp.tls_key") and "encrypted" in problem


@pytest.mark.slow
def test_sighup_gives_new_connections_the_renewed_certificate(
    tmp_path: Path, ca: trustme.CA,
) -> None:
    """The renewal as ops do it: new files in place, `systemctl reload` (SIGHUP to serve).
    A key that does not load refuses the reload, and the certificate in force stays."""
    from tests.test_reload_e2e import refused, reload

    inst = tls_daemon(tmp_path, ca, require_tls=False)
    try:
        cert = next(tmp_path.glob("server.crt"))
        key = tmp_path / "server.key"
        first = der(cert)
        renewed_cert, renewed_key = write_pair(ca, tmp_path, "renewed")
        cert.write_bytes(renewed_cert.read_bytes())
        key.write_bytes(renewed_key.read_bytes())
        second = der(cert)
        assert second != first
        reload(inst)
        with smtplib.SMTP(HOST, inst.port, timeout=10) as client:
            client.ehlo()
            assert peer_certificate(client, ca) == second
        key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        assert "smtp.tls_key" in refused(inst)
        with smtplib.SMTP(HOST, inst.port, timeout=10) as client:
            client.ehlo()
            assert peer_certificate(client, ca) == second
            client.send_message(mail(subject="After a refused renewal"))
        assert [t["subject"] for t in inst.wait_processed(1)] == ["After a refused renewal"]
    finally:
        inst.kill()
