"""FirebaseVerifier against the real Firebase Auth Emulator."""

from __future__ import annotations

from typing import Any

import pytest

from authenticator.core.errors import IdentityProviderUnavailable, InvalidIdToken
from authenticator.firebase import FirebaseVerifier, GoogleIdentity, id_token_verifier

from .conftest import configure
from .helpers import (
    delete,
    disable,
    mint_google_id_token,
    mint_password_id_token,
    revoke,
)


def reason(excinfo: pytest.ExceptionInfo[InvalidIdToken]) -> str:
    return excinfo.value.payload()["reason"]


def test_google_token_verifies_to_its_identity(emulated: str) -> None:
    token, uid = mint_google_id_token(emulated, sub="google-sub-1-" + emulated, email="Ada@Example.com", name="Ada Lovelace")

    identity = id_token_verifier().verify(token)

    assert identity == GoogleIdentity(
        uid=uid, email="ada@example.com", email_verified=True, name="Ada Lovelace",
        provider="google.com", phone_number=None,
    )


def test_unverified_google_email_is_reported_as_unverified(emulated: str) -> None:
    token, uid = mint_google_id_token(emulated, email_verified=False)

    identity = FirebaseVerifier().verify(token)

    assert (identity.uid, identity.email_verified) == (uid, False)


def test_revoked_token_is_rejected_as_revoked(emulated: str) -> None:
    token, uid = mint_google_id_token(emulated)
    assert FirebaseVerifier().verify(token).uid == uid

    revoke(emulated, uid)

    with pytest.raises(InvalidIdToken) as excinfo:
        FirebaseVerifier().verify(token)
    assert reason(excinfo) == "revoked"


def test_revoked_token_passes_when_revocation_checks_are_off(emulated: str, settings: Any) -> None:
    token, uid = mint_google_id_token(emulated)
    revoke(emulated, uid)
    configure(settings, FIREBASE_CHECK_REVOKED=False)

    assert FirebaseVerifier().verify(token).uid == uid


def test_token_of_disabled_user_is_rejected_as_disabled(emulated: str) -> None:
    token, uid = mint_google_id_token(emulated)
    disable(emulated, uid)

    with pytest.raises(InvalidIdToken) as excinfo:
        FirebaseVerifier().verify(token)
    assert reason(excinfo) == "disabled"


def test_token_of_deleted_user_is_rejected(emulated: str) -> None:
    token, uid = mint_google_id_token(emulated)
    delete(emulated, uid)

    with pytest.raises(InvalidIdToken) as excinfo:
        FirebaseVerifier().verify(token)
    assert reason(excinfo) == "unknown_user"


def test_token_for_another_project_is_rejected(emulated: str, settings: Any) -> None:
    token, _ = mint_google_id_token(emulated)
    configure(settings, FIREBASE_PROJECT_ID="demo-someone-else")

    with pytest.raises(InvalidIdToken) as excinfo:
        FirebaseVerifier().verify(token)
    assert reason(excinfo) == "invalid"


def test_password_sign_in_is_not_google_sign_in(emulated: str) -> None:
    token, _ = mint_password_id_token(emulated)

    with pytest.raises(InvalidIdToken) as excinfo:
        FirebaseVerifier().verify(token)
    assert reason(excinfo) == "provider_not_allowed"


def test_allowed_providers_setting_admits_other_providers(emulated: str, settings: Any) -> None:
    token, uid = mint_password_id_token(emulated)
    configure(settings, FIREBASE_ALLOWED_PROVIDERS=["google.com", "password"])

    identity = FirebaseVerifier().verify(token)

    assert (identity.uid, identity.provider) == (uid, "password")


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "ey.\u00e9.x"])
def test_garbage_is_an_invalid_id_token(emulated: str, garbage: str) -> None:
    with pytest.raises(InvalidIdToken) as excinfo:
        FirebaseVerifier().verify(garbage)
    assert excinfo.value.payload()["code"] == "invalid_id_token"
    assert reason(excinfo) in ("invalid", "malformed")


@pytest.mark.parametrize("token", ["", None, 12345, b"bytes.are.not", "x" * (8 * 1024 + 1)])
def test_empty_non_string_and_huge_tokens_are_rejected_without_calling_firebase(
    emulated: str, closed_port: int, monkeypatch: pytest.MonkeyPatch, token: Any,
) -> None:
    # With Firebase unreachable, any call out would surface as IdentityProviderUnavailable.
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{closed_port}")

    with pytest.raises(InvalidIdToken) as excinfo:
        FirebaseVerifier().verify(token)
    assert reason(excinfo) == "malformed"


def test_unreachable_emulator_is_unavailable_not_invalid(
    emulated: str, closed_port: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    token, _ = mint_google_id_token(emulated)
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{closed_port}")

    with pytest.raises(IdentityProviderUnavailable) as excinfo:
        FirebaseVerifier().verify(token)
    assert (excinfo.value.http_status, excinfo.value.code) == (503, "identity_provider_unavailable")


def test_rejection_maps_to_401_with_a_stable_code(emulated: str) -> None:
    token, uid = mint_google_id_token(emulated)
    disable(emulated, uid)

    with pytest.raises(InvalidIdToken) as excinfo:
        FirebaseVerifier().verify(token)
    assert excinfo.value.http_status == 401
    assert excinfo.value.payload() == {
        "code": "invalid_id_token",
        "detail": "The Google ID token is invalid, expired or revoked.",
        "reason": "disabled",
    }
