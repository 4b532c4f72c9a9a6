from __future__ import annotations

import datetime
import ipaddress
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, subprocess_env
from tests.cli.gateway import SmsGateway

COMMAND = [sys.executable, "-m", "hypercorn", "--config", "file:config/hypercorn.py", "config.asgi:application"]
RUNNING = re.compile(r"Running on (https?)://127\.0\.0\.1:(\d+)")


@dataclass
class Server:
    process: subprocess.Popen[str]
    scheme: str
    port: int
    log: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


def start_hypercorn(env: dict[str, str], timeout: float = 30.0) -> Server:
    """Start hypercorn as a real process on a free port; return once it listens."""
    process = subprocess.Popen(COMMAND, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def pump() -> None:  # keeps draining stderr so the server never blocks on a full pipe
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"hypercorn exited ({process.wait()}):\n{''.join(log)}")
            if match := RUNNING.search(line):
                return Server(process, match.group(1), int(match.group(2)), log)
    except queue.Empty:
        process.kill()
        raise AssertionError(f"hypercorn did not start in {timeout} s:\n{''.join(log)}") from None


def stop(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = SmsGateway()
    yield gateway
    gateway.close()


@pytest.fixture
def h2_server(transactional_db, sms_gateway) -> Iterator[Callable[..., Server]]:
    """Start hypercorn against the test database: ``h2_server(**extra_env)``; stopped after the test."""
    started: list[Server] = []

    def start(**extra: str) -> Server:
        env = subprocess_env(
            **sms_gateway.env(),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            H2_BIND="127.0.0.1:0",
            H2_WORKERS="1",
            H2_ACCESSLOG="",
            **extra,
        )
        server = start_hypercorn(env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop(server)


@dataclass(frozen=True)
class Certificate:
    certfile: Path
    keyfile: Path


@pytest.fixture
def self_signed(tmp_path: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, made for this test."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authenticator test")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=False, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False,
        ), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    keyfile.chmod(0o600)
    return Certificate(certfile, keyfile)
