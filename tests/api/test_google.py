"""Sign in with Google end to end, against the real Firebase Auth Emulator."""

from __future__ import annotations

import pytest

from accounts.models import SocialIdentity, User
from authenticator import firebase
from sessions_log.models import LoginState
from tests.factories import UserFactory
from tests.firebase import helpers
from tests.firebase.emulator import PROJECT_ID

from .conftest import last_code_to

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"


def unique(name: str) -> str:
    """The emulator keeps its accounts for the whole run: every test its own emails."""
    import uuid

    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def google(firebase_emulator, settings, monkeypatch) -> str:
    monkeypatch.setenv(firebase.EMULATOR_HOST_ENV, firebase_emulator)
    monkeypatch.delenv(firebase.CREDENTIALS_ENV, raising=False)
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "FIREBASE_PROJECT_ID": PROJECT_ID, "FIREBASE_CHECK_REVOKED": True}
    firebase.reset_clients()
    yield firebase_emulator
    firebase.reset_clients()


def post_google(api, id_token: str):
    return api.post("/api/v1/auth/google", {"id_token": id_token, "device": "android"}, format="json")


def test_new_person_verifies_a_phone_then_returns_with_google(api, google):
    ada_email = unique("ada")
    id_token, uid = helpers.mint_google_id_token(google, email=ada_email, name="Ada")
    first = post_google(api, id_token)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["status"] == "phone_verification_required"
    assert (body["email"], body["name"]) == (ada_email, "Ada")
    continuation = body["continuation"]

    start = api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Ada",
                                              "google_continuation": continuation}, format="json")
    assert start.status_code == 202, start.content
    verify = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE),
                                                      "google_continuation": continuation}, format="json")
    assert verify.status_code == 201, verify.content
    user = User.objects.get(phone_number=PHONE)
    assert (user.type, user.status, user.email) == ("google", "active", ada_email)
    assert user.email_verified_at is not None  # Google verified it, and it is this user's
    assert SocialIdentity.objects.get(user=user).uid == uid

    again = post_google(api, helpers.mint_google_id_token(google, sub=_sub_of(uid), email=ada_email)[0])
    assert again.status_code == 200, again.content
    assert again.json()["user"]["id"] == str(user.pk)
    assert LoginState.objects.filter(user=user, method="google").count() == 1


def _sub_of(uid: str) -> str:
    """The Google `sub` a Firebase uid was minted from (the emulator keeps one per sub)."""
    return _SUBS[uid]


_SUBS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _remember_subs(monkeypatch):
    original = helpers.mint_google_id_token

    def mint(host, *, sub=None, **kwargs):
        import uuid

        sub = sub or f"google-{uuid.uuid4().hex}"
        token, uid = original(host, sub=sub, **kwargs)
        _SUBS[uid] = sub
        return token, uid

    monkeypatch.setattr(helpers, "mint_google_id_token", mint)


def test_verified_matching_email_links_to_the_existing_account(api, google):
    grace_email = unique("grace")
    from django.utils import timezone

    user = UserFactory(email=grace_email, email_verified_at=timezone.now())
    id_token, uid = helpers.mint_google_id_token(google, email=grace_email.capitalize())
    response = post_google(api, id_token)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)
    assert SocialIdentity.objects.get(provider="google.com", uid=uid).user == user


def test_unverified_google_email_never_links(api, google):
    grace_email = unique("grace")
    from django.utils import timezone

    UserFactory(email=grace_email, email_verified_at=timezone.now())
    id_token, _uid = helpers.mint_google_id_token(google, email=grace_email, email_verified=False)
    response = post_google(api, id_token)
    assert response.json()["status"] == "phone_verification_required"
    assert response.json()["email"] is None
    assert not SocialIdentity.objects.exists()


def test_matching_but_unverified_account_email_never_links(api, google):
    grace_email = unique("grace")
    UserFactory(email=grace_email, email_verified_at=None)
    id_token, _uid = helpers.mint_google_id_token(google, email=grace_email)
    assert post_google(api, id_token).json()["status"] == "phone_verification_required"
    assert not SocialIdentity.objects.exists()


def test_existing_account_links_by_proving_its_phone(api, google):
    other_email = unique("other")
    user = UserFactory(phone_number=PHONE, email=None)
    id_token, uid = helpers.mint_google_id_token(google, email=other_email)
    continuation = post_google(api, id_token).json()["continuation"]
    api.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    response = api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE),
                                                     "google_continuation": continuation}, format="json")
    assert response.status_code == 200, response.content
    assert SocialIdentity.objects.get(uid=uid).user == user


def test_tampered_continuation_is_refused(api, google):
    id_token, _uid = helpers.mint_google_id_token(google)
    continuation = post_google(api, id_token).json()["continuation"]
    response = api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "X",
                                                 "google_continuation": continuation[:-2] + "xx"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_continuation"
    assert not User.objects.exists()


def test_revoked_and_disabled_google_users_are_refused(api, google):
    id_token, uid = helpers.mint_google_id_token(google)
    helpers.revoke(google, uid)
    revoked = post_google(api, id_token)
    assert revoked.status_code == 401 and revoked.json()["code"] == "invalid_id_token"
    id_token2, uid2 = helpers.mint_google_id_token(google)
    helpers.disable(google, uid2)
    disabled = post_google(api, id_token2)
    assert disabled.status_code == 401 and disabled.json()["code"] == "invalid_id_token"


def test_blocked_linked_user_gets_no_tokens(api, google):
    from authenticator.flows.account_status import account_set_status

    id_token, uid = helpers.mint_google_id_token(google)
    user = UserFactory()
    SocialIdentity.objects.create(user=user, provider="google.com", uid=uid)
    account_set_status(user=user, status="blocked", reason="test")
    response = post_google(api, id_token)
    assert response.status_code == 403 and response.json()["code"] == "account_blocked"
    assert not LoginState.objects.exists()


def test_garbage_token_is_401_and_google_off_is_404(api, google, settings):
    assert post_google(api, "not-a-jwt").json()["code"] == "invalid_id_token"
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "FIREBASE_PROJECT_ID": ""}
    off = post_google(api, "whatever")
    assert off.status_code == 404 and off.json()["code"] == "google_sign_in_disabled"


def test_emulator_unreachable_is_503(api, google, monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(firebase.EMULATOR_HOST_ENV, f"127.0.0.1:{port}")
    firebase.reset_clients()
    id_token, _uid = helpers.mint_google_id_token(google)
    response = post_google(api, id_token)
    assert response.status_code == 503 and response.json()["code"] == "identity_provider_unavailable"


def test_list_and_unlink_identities(api, google):
    grace_email = unique("grace")
    from django.utils import timezone

    user = UserFactory(email=grace_email, email_verified_at=timezone.now(), phone_verified_at=timezone.now())
    tokens = post_google(api, helpers.mint_google_id_token(google, email=grace_email)[0]).json()["tokens"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    listing = api.get("/api/v1/me/identities", **auth).json()
    assert [row["provider"] for row in listing] == ["google.com"]
    assert api.delete(f"/api/v1/me/identities/{listing[0]['id']}", **auth).status_code == 204
    assert not SocialIdentity.objects.filter(user=user).exists()
    assert api.delete("/api/v1/me/identities/12345", **auth).status_code == 404


def test_an_email_verified_elsewhere_meanwhile_stays_a_claim_and_the_sign_up_still_succeeds(api, google):
    """Whoever verifies an address first owns it: the Google sign-up still signs in; its
    email stays a claim, and the first owner keeps signing in by email."""
    from django.utils import timezone

    from authenticator.flows.common import Identifier, user_for_identifier

    email = unique("race")
    continuation = post_google(api, helpers.mint_google_id_token(google, email=email, name="Ada")[0]).json()["continuation"]
    assert api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Ada",
                                            "google_continuation": continuation}, format="json").status_code == 202
    code = last_code_to(PHONE)
    first = UserFactory(phone_number="+447400123457", email=email, email_verified_at=timezone.now())
    verify = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": code,
                                                      "google_continuation": continuation}, format="json")
    assert verify.status_code == 201, verify.content
    user = User.objects.get(phone_number=PHONE)
    assert (user.email, user.email_verified_at) == (email, None)
    assert SocialIdentity.objects.filter(user=user).exists()
    assert user_for_identifier(Identifier("email", email)) == first
