"""Google sign-in is off unless configured; the verifier is pluggable; start-up checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authenticator import firebase
from authenticator.core.errors import IdentityProviderUnavailable
from authenticator.firebase import (
    FirebaseVerifier,
    GoogleIdentity,
    check_firebase_configuration,
    google_sign_in_enabled,
    id_token_verifier,
)

from .conftest import configure
from .helpers import write_service_account


class StaticVerifier:
    def verify(self, id_token: str) -> GoogleIdentity:
        return GoogleIdentity(uid=id_token, email=None, email_verified=False, name=None,
                              provider="google.com", phone_number=None)


def test_google_sign_in_is_off_without_a_project(settings: Any) -> None:
    configure(settings, FIREBASE_PROJECT_ID="")

    assert google_sign_in_enabled() is False
    with pytest.raises(IdentityProviderUnavailable):
        FirebaseVerifier().verify("eyJhbGciOiJub25lIn0.e30.")


def test_google_sign_in_is_on_with_a_project(settings: Any) -> None:
    configure(settings, FIREBASE_PROJECT_ID="demo-x")

    assert google_sign_in_enabled() is True


def test_verifier_defaults_to_firebase(settings: Any) -> None:
    assert isinstance(id_token_verifier(), FirebaseVerifier)


def test_verifier_is_chosen_by_dotted_path(settings: Any) -> None:
    configure(settings, FIREBASE_VERIFIER=f"{__name__}.StaticVerifier")

    assert id_token_verifier().verify("uid-7").uid == "uid-7"


def test_missing_credentials_outside_emulator_are_unavailable_not_a_crash(
    settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(firebase.EMULATOR_HOST_ENV, raising=False)
    monkeypatch.delenv(firebase.CREDENTIALS_ENV, raising=False)
    configure(settings, FIREBASE_PROJECT_ID="authn-prod-like")

    with pytest.raises(IdentityProviderUnavailable):
        FirebaseVerifier().verify("eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.c2ln")


def check_ids() -> list[str]:
    return [message.id for message in check_firebase_configuration()]


def test_check_is_quiet_when_google_sign_in_is_off(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(firebase.CREDENTIALS_ENV, raising=False)
    configure(settings, FIREBASE_PROJECT_ID="")

    assert check_ids() == []


def test_check_requires_credentials_outside_emulator(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(firebase.EMULATOR_HOST_ENV, raising=False)
    monkeypatch.delenv(firebase.CREDENTIALS_ENV, raising=False)
    configure(settings, FIREBASE_PROJECT_ID="authn-prod-like")

    assert check_ids() == ["authenticator.E302"]


def test_check_rejects_unreadable_credentials(settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(firebase.EMULATOR_HOST_ENV, raising=False)
    (tmp_path / "sa.json").write_text("{not json")
    configure(settings, FIREBASE_PROJECT_ID="authn-prod-like")

    for path in (tmp_path / "missing.json", tmp_path / "sa.json"):
        monkeypatch.setenv(firebase.CREDENTIALS_ENV, str(path))
        assert check_ids() == ["authenticator.E303"]


def test_check_accepts_a_service_account_key(settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(firebase.EMULATOR_HOST_ENV, raising=False)
    monkeypatch.setenv(firebase.CREDENTIALS_ENV, str(write_service_account(tmp_path / "sa.json", "authn-prod-like")))
    configure(settings, FIREBASE_PROJECT_ID="authn-prod-like")

    assert check_ids() == []


def test_check_needs_no_credentials_in_emulator_mode(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(firebase.EMULATOR_HOST_ENV, "127.0.0.1:9099")
    monkeypatch.delenv(firebase.CREDENTIALS_ENV, raising=False)
    configure(settings, FIREBASE_PROJECT_ID="demo-authenticator")

    assert check_ids() == []


def test_check_reports_an_unimportable_verifier(settings: Any) -> None:
    configure(settings, FIREBASE_PROJECT_ID="demo-x", FIREBASE_VERIFIER="no.such.Verifier")

    assert check_ids() == ["authenticator.E301"]
