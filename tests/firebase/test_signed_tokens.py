"""Outside emulator mode: signature, expiry, audience and issuer, with RS256 tokens signed
here and certificates served by a real local HTTP server (FIREBASE_CERTS_URL)."""

from __future__ import annotations

import pytest

from authenticator.core.errors import IdentityProviderUnavailable, InvalidIdToken
from authenticator.firebase import FirebaseVerifier, GoogleIdentity

from .conftest import Signed
from .helpers import fake_google_jwt, firebase_claims, new_signing_key


def rejected_reason(token: str) -> str:
    with pytest.raises(InvalidIdToken) as excinfo:
        FirebaseVerifier().verify(token)
    return excinfo.value.payload()["reason"]


def test_token_signed_with_a_published_key_verifies(signed: Signed) -> None:
    claims = firebase_claims(signed.project_id, uid="uid-123", phone_number="+14155550100")

    identity = FirebaseVerifier().verify(signed.key.sign(claims))

    assert identity == GoogleIdentity(
        uid="uid-123", email="uid-123@example.com", email_verified=True, name="Grace Hopper",
        provider="google.com", phone_number="+14155550100",
    )
    assert signed.server.requests >= 1  # the certificates really came from our server


def test_token_signed_with_an_unpublished_key_is_rejected(signed: Signed) -> None:
    impostor = new_signing_key(kid=signed.key.kid)  # same kid, different key

    assert rejected_reason(impostor.sign(firebase_claims(signed.project_id))) == "invalid"


def test_token_naming_an_unknown_key_is_rejected(signed: Signed) -> None:
    token = signed.key.sign(firebase_claims(signed.project_id), kid="no-such-kid")

    assert rejected_reason(token) == "invalid"


def test_tampered_payload_is_rejected(signed: Signed) -> None:
    header, _, signature = signed.key.sign(firebase_claims(signed.project_id, uid="victim")).split(".")
    other_payload = signed.key.sign(firebase_claims(signed.project_id, uid="attacker")).split(".")[1]

    assert rejected_reason(f"{header}.{other_payload}.{signature}") == "invalid"


def test_expired_token_is_rejected_as_expired(signed: Signed) -> None:
    claims = firebase_claims(signed.project_id, issued_ago=7200, lifetime=3600)

    assert rejected_reason(signed.key.sign(claims)) == "expired"


def test_token_for_another_audience_is_rejected(signed: Signed) -> None:
    claims = firebase_claims(signed.project_id) | {"aud": "someone-elses-project"}

    assert rejected_reason(signed.key.sign(claims)) == "invalid"


def test_token_from_another_issuer_is_rejected(signed: Signed) -> None:
    claims = firebase_claims(signed.project_id) | {"iss": "https://accounts.google.com"}

    assert rejected_reason(signed.key.sign(claims)) == "invalid"


def test_token_issued_in_the_future_is_rejected(signed: Signed) -> None:
    claims = firebase_claims(signed.project_id, issued_ago=-600)

    assert rejected_reason(signed.key.sign(claims)) == "invalid"


def test_unsigned_emulator_style_token_is_rejected_outside_emulator_mode(signed: Signed) -> None:
    # What the emulator mints (alg "none") must never pass against the real project.
    assert rejected_reason(fake_google_jwt(**firebase_claims(signed.project_id))) == "invalid"


def test_non_google_provider_is_rejected(signed: Signed) -> None:
    claims = firebase_claims(signed.project_id, provider="anonymous")

    assert rejected_reason(signed.key.sign(claims)) == "provider_not_allowed"


def test_certificate_server_down_is_unavailable(signed: Signed) -> None:
    token = signed.key.sign(firebase_claims(signed.project_id))
    signed.server.close()

    with pytest.raises(IdentityProviderUnavailable):
        FirebaseVerifier().verify(token)


def test_certificate_server_error_is_unavailable(signed: Signed) -> None:
    signed.server.status = 500

    with pytest.raises(IdentityProviderUnavailable):
        FirebaseVerifier().verify(signed.key.sign(firebase_claims(signed.project_id)))
