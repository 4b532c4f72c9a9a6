from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from authenticator import firebase

from .emulator import PROJECT_ID
from .helpers import CertServer, SigningKey, new_signing_key, write_service_account

SIGNED_PROJECT = "authn-signed-test"


def configure(settings: Any, **values: Any) -> None:
    """Override authenticator settings (the AUTHENTICATOR dict) for one test."""
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, **values}


@pytest.fixture(autouse=True)
def _fresh_firebase_clients() -> Iterator[None]:
    # Clients are cached per configuration; a test's own configuration gets its own.
    firebase.reset_clients()
    yield
    firebase.reset_clients()


@pytest.fixture
def emulated(firebase_emulator: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Verify against the Auth Emulator's demo project; returns the emulator's host."""
    monkeypatch.setenv(firebase.EMULATOR_HOST_ENV, firebase_emulator)
    monkeypatch.delenv(firebase.CREDENTIALS_ENV, raising=False)
    configure(settings, FIREBASE_PROJECT_ID=PROJECT_ID, FIREBASE_CHECK_REVOKED=True)
    return firebase_emulator


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Signed:
    key: SigningKey
    server: CertServer
    project_id: str = SIGNED_PROJECT


@pytest.fixture
def signed(settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Signed]:
    """Outside emulator mode: Google's certificates replaced by ours, served over real HTTP."""
    key = new_signing_key()
    server = CertServer({key.kid: key.certificate_pem})
    monkeypatch.delenv(firebase.EMULATOR_HOST_ENV, raising=False)
    monkeypatch.setenv(firebase.CREDENTIALS_ENV, str(write_service_account(tmp_path / "sa.json", SIGNED_PROJECT)))
    # No revocation check here: it would call Google's Identity Toolkit, which tests never reach.
    configure(settings, FIREBASE_PROJECT_ID=SIGNED_PROJECT, FIREBASE_CERTS_URL=server.url,
              FIREBASE_CHECK_REVOKED=False, FIREBASE_CLOCK_SKEW=0)
    try:
        yield Signed(key=key, server=server)
    finally:
        server.close()
