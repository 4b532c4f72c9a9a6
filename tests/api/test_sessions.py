from __future__ import annotations

import pytest

from accounts.models import UserStatus
from sessions_log.models import LoginState

from .conftest import last_code_to, sent_to, sign_up


def last_code_message(to: str) -> str:
    return sent_to(to)[-1]

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"


def bearer(tokens: dict) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}


def second_sign_in(api) -> dict:
    from django.core.cache import cache

    cache.clear()  # the resend cooldown is not what these tests are about
    api.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    response = api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE), "device": "web"}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_refresh_rotates_and_reuse_revokes_the_session(api):
    tokens = sign_up(api)["tokens"]
    response = api.post("/api/v1/auth/token/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert response.status_code == 200
    new = response.json()["tokens"]
    assert new["refresh_token"] != tokens["refresh_token"] and new["session_id"] == tokens["session_id"]
    reuse = api.post("/api/v1/auth/token/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert reuse.status_code == 401 and reuse.json()["code"] == "invalid_token"
    after = api.post("/api/v1/auth/token/refresh", {"refresh_token": new["refresh_token"]}, format="json")
    assert after.status_code == 401


def test_sign_out_this_session_only(api):
    first = sign_up(api)
    second = second_sign_in(api)
    assert api.post("/api/v1/auth/signout", {}, format="json", **bearer(first["tokens"])).status_code == 204
    assert api.get("/api/v1/me", **bearer(first["tokens"])).status_code == 401
    assert api.get("/api/v1/me", **bearer(second["tokens"])).status_code == 200
    ended = LoginState.objects.get(pk=first["session"]["id"])
    assert ended.status == "logged_out" and ended.logged_out_at is not None
    assert LoginState.objects.get(pk=second["session"]["id"]).status == "active"


def test_sign_out_everywhere(api):
    first = sign_up(api)
    second = second_sign_in(api)
    assert api.post("/api/v1/auth/signout", {"all": True}, format="json", **bearer(second["tokens"])).status_code == 204
    for tokens in (first["tokens"], second["tokens"]):
        assert api.get("/api/v1/me", **bearer(tokens)).status_code == 401
        refresh = api.post("/api/v1/auth/token/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
        assert refresh.status_code == 401
    assert set(LoginState.objects.values_list("status", flat=True)) == {"logged_out"}


def test_list_and_revoke_own_sessions(api):
    first = sign_up(api)
    second = second_sign_in(api)
    listing = api.get("/api/v1/me/sessions", **bearer(second["tokens"]))
    assert listing.status_code == 200
    rows = {row["id"]: row for row in listing.json()}
    assert set(rows) == {first["session"]["id"], second["session"]["id"]}
    assert rows[second["session"]["id"]]["current"] is True and rows[first["session"]["id"]]["current"] is False
    assert rows[first["session"]["id"]]["device"] == "ios 18"
    gone = api.delete(f"/api/v1/me/sessions/{first['session']['id']}", **bearer(second["tokens"]))
    assert gone.status_code == 204
    assert api.get("/api/v1/me", **bearer(first["tokens"])).status_code == 401
    assert LoginState.objects.get(pk=first["session"]["id"]).status == "revoked"


def test_cannot_revoke_someone_elses_session(api):
    mine = sign_up(api)
    other = sign_up(api, phone="+447400123457")
    response = api.delete(f"/api/v1/me/sessions/{other['session']['id']}", **bearer(mine["tokens"]))
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert api.get("/api/v1/me", **bearer(other["tokens"])).status_code == 200
    for junk in ("not-a-number", "9" * 30, "-1", "1_000", "%20%2012"):  # no id, or none a bigint can hold
        response = api.delete(f"/api/v1/me/sessions/{junk}", **bearer(mine["tokens"]))
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), junk
    for junk in ("9" * 30, "1_000"):
        response = api.delete(f"/api/v1/me/identities/{junk}", **bearer(mine["tokens"]))
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), junk


def test_blocking_revokes_all_sessions_and_closes_login_states(api):
    from accounts.models import User
    from authenticator.flows.account_status import account_set_status

    body = sign_up(api)
    user = User.objects.get(pk=body["user"]["id"])
    account_set_status(user=user, status=UserStatus.BLOCKED, reason="abuse")
    assert api.get("/api/v1/me", **bearer(body["tokens"])).status_code == 401
    refresh = api.post("/api/v1/auth/token/refresh", {"refresh_token": body["tokens"]["refresh_token"]}, format="json")
    assert refresh.status_code == 401
    state = LoginState.objects.get(pk=body["session"]["id"])
    assert state.status == "revoked" and state.logged_out_at is not None


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer a b", "Bearer not-a-token", "Basic abc", "Bearer " + "x" * 5000])
def test_bad_bearer_headers_are_401(api, header):
    response = api.get("/api/v1/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] in ("not_authenticated", "invalid_token")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_profile_update_and_email_change_counts_only_after_its_code(api):
    body = sign_up(api, email="old@example.com")
    auth = bearer(body["tokens"])
    response = api.patch("/api/v1/me", {"name": "Ann B", "salutation": "Dr", "email": "new@example.com"}, format="json", **auth)
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["name"], data["salutation"], data["email"], data["email_pending"]) == ("Ann B", "Dr", "old@example.com", "new@example.com")
    code = last_code_to("new@example.com")
    wrong = api.post("/api/v1/me/email/verify", {"otp": "000000" if code != "000000" else "111111"}, format="json", **auth)
    assert wrong.status_code == 400
    ok = api.post("/api/v1/me/email/verify", {"otp": code}, format="json", **auth)
    assert ok.status_code == 200 and ok.json()["email"] == "new@example.com" and ok.json()["email_verified"] is True


def test_an_email_another_account_verified_fails_only_after_the_right_code(api):
    from django.utils import timezone

    from accounts.models import User
    from tests.factories import UserFactory

    owner = UserFactory(phone_number="+447400123457", email="taken@example.com", email_verified_at=timezone.now())
    body = sign_up(api)
    auth = bearer(body["tokens"])
    response = api.patch("/api/v1/me", {"email": "Taken@Example.com"}, format="json", **auth)
    assert response.status_code == 200 and response.json()["email_pending"] == "Taken@example.com"  # nothing told
    wrong = api.post("/api/v1/me/email/verify", {"otp": "000000"}, format="json", **auth)
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_otp")
    taken = api.post("/api/v1/me/email/verify", {"otp": last_code_to("Taken@example.com")}, format="json", **auth)
    assert (taken.status_code, taken.json()["code"]) == (409, "email_taken")
    assert User.objects.get(pk=owner.pk).email_verified_at is not None
    assert User.objects.get(phone_number="+447400123456").email is None


def test_whoever_verifies_an_email_first_owns_it_and_other_claims_on_it_are_cleared(api):
    from accounts.models import User

    squatter = sign_up(api, phone="+447400123457", email="ann@example.com")  # typed, never verified
    body = sign_up(api)
    auth = bearer(body["tokens"])
    assert api.patch("/api/v1/me", {"email": "ANN@example.com"}, format="json", **auth).status_code == 200
    ok = api.post("/api/v1/me/email/verify", {"otp": last_code_to("ANN@example.com")}, format="json", **auth)
    assert ok.status_code == 200 and ok.json()["email"] == "ANN@example.com"
    assert User.objects.get(pk=squatter["user"]["id"]).email is None
    email_sign_in = api.post("/api/v1/auth/otp", {"email": "ann@example.com"}, format="json")
    assert email_sign_in.status_code == 202
    assert "Your Authenticator code" in last_code_message("ANN@example.com")


def test_profile_refuses_system_fields(api):
    body = sign_up(api)
    response = api.patch("/api/v1/me", {"status": "active", "level": 9}, format="json", **bearer(body["tokens"]))
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"status", "level"}


def test_email_changes_are_rate_limited(api):
    body = sign_up(api)
    auth = bearer(body["tokens"])
    first = api.patch("/api/v1/me", {"email": "taken@example.com"}, format="json", **auth)
    again = api.patch("/api/v1/me", {"email": "taken@example.com"}, format="json", **auth)
    assert (first.status_code, again.status_code) == (200, 429)


def test_an_unverified_account_is_not_activated_by_a_status_change():
    from accounts.models import User
    from authenticator.core.errors import InvalidStatusTransition
    from authenticator.flows.account_status import account_set_status
    from tests.factories import UserFactory

    user = UserFactory(status=UserStatus.UNVERIFIED)
    with pytest.raises(InvalidStatusTransition):
        account_set_status(user=user, status=UserStatus.ACTIVE, reason="support")
    assert User.objects.get(pk=user.pk).status == "unverified"
