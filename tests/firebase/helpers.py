"""Helpers for Google sign-in tests: tokens from the real Auth Emulator, admin actions on it,
and, for checks the emulator skips (signature, expiry), RS256 tokens signed here with
certificates served by a real local HTTP server.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import firebase_admin
import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from firebase_admin import auth, credentials

from .emulator import PROJECT_ID

EMULATOR_ENV = "FIREBASE_AUTH_EMULATOR_HOST"


# --- the Auth Emulator -----------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_google_jwt(**claims: Any) -> str:
    """An unsigned JWT standing in for Google's own ID token; the emulator only reads it."""
    header = {"alg": "none", "typ": "JWT"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def mint_google_id_token(
    host: str, *, sub: str | None = None, email: str | None = None, email_verified: bool = True,
    name: str | None = "Ada Lovelace",
) -> tuple[str, str]:
    """Sign in with Google on the emulator: returns (Firebase ID token, Firebase uid)."""
    sub = sub or f"google-{uuid.uuid4().hex}"
    claims: dict[str, Any] = {"sub": sub, "email_verified": email_verified}
    if email is None:
        email = f"{sub}@example.com"
    claims["email"] = email
    if name is not None:
        claims["name"] = name
    body = {
        "postBody": f"id_token={fake_google_jwt(**claims)}&providerId=google.com",
        "requestUri": "http://localhost",
        "returnIdpCredential": True,
        "returnSecureToken": True,
    }
    response = requests.post(
        f"http://{host}/identitytoolkit.googleapis.com/v1/accounts:signInWithIdp?key=fake-api-key",
        json=body, timeout=10,
    )
    response.raise_for_status()
    data = response.json()
    return data["idToken"], data["localId"]


def mint_password_id_token(host: str, *, email: str | None = None) -> tuple[str, str]:
    """An email/password sign-up on the emulator (sign_in_provider "password")."""
    email = email or f"pw-{uuid.uuid4().hex}@example.com"
    response = requests.post(
        f"http://{host}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=fake-api-key",
        json={"email": email, "password": "correct horse battery", "returnSecureToken": True}, timeout=10,
    )
    response.raise_for_status()
    data = response.json()
    return data["idToken"], data["localId"]


_admin_clients: dict[str, auth.Client] = {}
_admin_lock = threading.Lock()


def admin(host: str) -> auth.Client:
    """A firebase-admin client bound to the emulator at ``host`` (its own named App)."""
    with _admin_lock:
        client = _admin_clients.get(host)
        if client is None:
            name = f"tests-admin-{host}"
            try:
                app = firebase_admin.get_app(name)
            except ValueError:
                app = _admin_app(name)
            # The client reads the emulator host once, when built.
            previous = os.environ.get(EMULATOR_ENV)
            os.environ[EMULATOR_ENV] = host
            try:
                client = auth.Client(app)
            finally:
                if previous is None:
                    os.environ.pop(EMULATOR_ENV, None)
                else:
                    os.environ[EMULATOR_ENV] = previous
            _admin_clients[host] = client
        return client


def _admin_app(name: str) -> firebase_admin.App:
    class _Unused(credentials.Base):
        def get_credential(self) -> Any:  # emulator mode swaps in its own credential
            raise AssertionError("no credential in emulator mode")

    return firebase_admin.initialize_app(_Unused(), options={"projectId": PROJECT_ID}, name=name)


def revoke(host: str, uid: str) -> None:
    """Revoke the user's tokens. Revocation has one-second resolution (``iat`` vs
    ``validSince``), so wait until a new second has begun since any token was minted."""
    time.sleep(1.05 - (time.time() % 1))
    admin(host).revoke_refresh_tokens(uid)


def disable(host: str, uid: str) -> None:
    admin(host).update_user(uid, disabled=True)


def delete(host: str, uid: str) -> None:
    admin(host).delete_user(uid)


# --- outside emulator mode: RS256 tokens signed here -----------------------------------


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    certificate_pem: str

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": kid or self.kid})


def new_signing_key(kid: str | None = None) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return SigningKey(
        kid=kid or uuid.uuid4().hex, private_key=key,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


def firebase_claims(project_id: str, *, uid: str | None = None, lifetime: int = 3600, issued_ago: int = 10,
                    provider: str = "google.com", **extra: Any) -> dict[str, Any]:
    """Claims shaped like a real Firebase ID token for ``project_id``."""
    now = int(time.time())
    uid = uid or uuid.uuid4().hex[:28]
    return {
        "iss": f"https://securetoken.google.com/{project_id}",
        "aud": project_id,
        "auth_time": now - issued_ago,
        "user_id": uid,
        "sub": uid,
        "iat": now - issued_ago,
        "exp": now - issued_ago + lifetime,
        "email": f"{uid}@example.com",
        "email_verified": True,
        "name": "Grace Hopper",
        "firebase": {"identities": {"google.com": ["1234567890"], "email": [f"{uid}@example.com"]},
                     "sign_in_provider": provider},
        **extra,
    }


class CertServer:
    """A real HTTP server answering with Google's certificate format ({kid: PEM})."""

    def __init__(self, certificates: dict[str, str]) -> None:
        self.certificates = certificates
        self.status = 200
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                body = json.dumps(outer.certificates).encode() if outer.status == 200 else b"{}"
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def cert_server(certificates: dict[str, str]) -> Iterator[CertServer]:
    server = CertServer(certificates)
    try:
        yield server
    finally:
        server.close()


def write_service_account(path: Path, project_id: str) -> Path:
    """A syntactically real service-account key (its own RSA key); never used to call Google."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_text(json.dumps({
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem.decode(),
        "client_email": f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    return path
