"""The REST flows that had no command: Google sign-in, refresh, profile, email verification,
identities — through call_command, and once in real ``manage.py`` processes."""

from __future__ import annotations

import json

import pytest

from accounts.models import SocialIdentity, User
from authenticator import firebase
from authenticator.edge import presenters
from authenticator.tokenizer import tokenizer
from sessions_log.models import LoginState
from tests.api.conftest import last_code_to
from tests.cli.conftest import cli, manage, subprocess_env
from tests.firebase import helpers
from tests.firebase.emulator import PROJECT_ID

PHONE = "+447400123456"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def google(firebase_emulator, settings, monkeypatch) -> str:
    monkeypatch.setenv(firebase.EMULATOR_HOST_ENV, firebase_emulator)
    monkeypatch.delenv(firebase.CREDENTIALS_ENV, raising=False)
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "FIREBASE_PROJECT_ID": PROJECT_ID, "FIREBASE_CHECK_REVOKED": True}
    firebase.reset_clients()
    yield firebase_emulator
    firebase.reset_clients()


def ok(*args: str) -> dict:
    run = cli(*args, "--json")
    assert (run.status, run.err) == (0, ""), run.err
    return json.loads(run.out)


def signed_up(phone: str = PHONE) -> dict:
    ok("signup", "--phone", phone, "--country", "GB", "--name", "Ann")
    return ok("signup_verify", "--phone", phone, "--otp", last_code_to(phone))


def unique_email(name: str) -> str:
    import uuid

    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def test_google_sign_in_continues_to_a_phone_then_signs_in_and_identities_unlink(google):
    email = unique_email("ada")
    sub = f"google-cli-{email}"
    id_token, uid = helpers.mint_google_id_token(google, sub=sub, email=email, name="Ada")

    first = ok("google_signin", "--id-token", id_token, "--device", "ops laptop")
    assert set(first) == {"status", "continuation", "expires_in", "email", "name"}
    assert (first["status"], first["email"], first["name"]) == ("phone_verification_required", email, "Ada")

    ok("signup", "--phone", PHONE, "--country", "GB", "--name", "Ada", "--google-continuation", first["continuation"])
    body = ok("signup_verify", "--phone", PHONE, "--otp", last_code_to(PHONE), "--google-continuation", first["continuation"])
    user = User.objects.get(phone_number=PHONE)
    assert (body["user"]["type"], body["user"]["email"], body["user"]["email_verified"]) == ("google", email, True)
    assert SocialIdentity.objects.get(user=user).uid == uid

    again, _ = helpers.mint_google_id_token(google, sub=sub, email=email, name="Ada")
    back = ok("google_signin", "--id-token", again)
    assert back["user"]["id"] == str(user.pk)
    assert (back["session"]["method"], back["session"]["device"]) == ("google", "cli")
    assert tokenizer().introspect(token=back["tokens"]["access_token"]).active is True

    listed = ok("identities", "--user", PHONE)
    link = SocialIdentity.objects.get(user=user)
    assert listed == {"user_id": str(user.pk), "identities": [presenters.identity(link)]}
    text = cli("identities", "--user", email)
    assert text.status == 0 and f"{link.pk}  google.com  {email}" in text.out

    assert ok("identity_unlink", "--user", PHONE, "--identity", str(link.pk)) == {
        "user_id": str(user.pk), "identity_id": str(link.pk), "unlinked": True}
    assert ok("identities", "--user", PHONE) == {"user_id": str(user.pk), "identities": []}
    gone = cli("identity_unlink", "--user", PHONE, "--identity", str(link.pk))
    assert (gone.status, gone.out) == (7, "")
    assert gone.err.startswith("error: not_found:")


def test_google_sign_in_errors_exit_with_the_error_tables_status(google, settings):
    bad = cli("google_signin", "--id-token", "not-a-token", "--json")
    assert bad.status == 5
    assert json.loads(bad.err)["code"] == "invalid_id_token"
    empty = cli("google_signin", "--id-token", "")
    assert empty.status == 2 and "id_token" in empty.err
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "FIREBASE_PROJECT_ID": ""}
    off = cli("google_signin", "--id-token", "x")
    assert (off.status, off.err) == (7, "error: google_sign_in_disabled: Google sign-in is not configured.\n")


def test_an_account_with_a_verified_email_is_signed_in_by_google_at_once(google):
    signed_up()
    email = unique_email("bea")
    ok("profile_update", "--user", PHONE, "--email", email)
    ok("email_verify", "--user", PHONE, "--otp", last_code_to(email))
    id_token, _ = helpers.mint_google_id_token(google, email=email, name="Bea")
    body = ok("google_signin", "--id-token", id_token)
    assert body["user"]["phone_number"] == PHONE and body["session"]["method"] == "google"
    assert len(ok("identities", "--user", PHONE)["identities"]) == 1


def test_token_refresh_rotates_and_a_reused_token_revokes_the_session():
    first = signed_up()["tokens"]
    rotated = ok("token_refresh", "--refresh-token", first["refresh_token"])
    assert set(rotated) == {"tokens"}
    assert rotated["tokens"]["session_id"] == first["session_id"]
    assert rotated["tokens"]["refresh_token"] != first["refresh_token"]
    text = cli("token_refresh", "--refresh-token", rotated["tokens"]["refresh_token"])
    assert text.status == 0 and "access_token: " in text.out and f"session_id: {first['session_id']}" in text.out

    reused = cli("token_refresh", "--refresh-token", first["refresh_token"])
    assert (reused.status, reused.out) == (5, "")
    assert reused.err.startswith("error: invalid_token:")
    assert LoginState.objects.get(pk=int(first["session_id"])).status != "active"


def test_profile_show_update_and_email_verify():
    signed_up()
    user = User.objects.get(phone_number=PHONE)
    assert ok("profile", "--user", PHONE) == presenters.profile(user)

    email = unique_email("ann")
    updated = ok("profile_update", "--user", str(user.pk), "--name", "Ann B", "--salutation", "Dr", "--email", email)
    assert (updated["name"], updated["salutation"], updated["email"], updated["email_pending"]) == ("Ann B", "Dr", None, email)
    code = last_code_to(email)

    wrong = cli("email_verify", "--user", PHONE, "--otp", "000000" if code != "000000" else "111111")
    assert (wrong.status, wrong.err) == (3, "error: invalid_otp: The code is not valid.\n")
    malformed = cli("email_verify", "--user", PHONE, "--otp", "12")
    assert malformed.status == 2 and "otp:" in malformed.err
    verified = ok("email_verify", "--user", PHONE, "--otp", code)
    assert (verified["email"], verified["email_verified"], verified["email_pending"]) == (email, True, None)

    cleared = ok("profile_update", "--user", PHONE, "--salutation", "")
    assert (cleared["salutation"], cleared["name"]) == (None, "Ann B")
    shown = cli("profile", "--user", email)
    assert shown.status == 0 and f"email: {email} (verified)" in shown.out and "salutation: -" in shown.out

    bad = cli("profile_update", "--user", PHONE, "--email", "not-an-email", "--json")
    assert bad.status == 2
    assert json.loads(bad.err)["errors"]["email"][0]["code"] == "invalid"
    nobody = cli("profile", "--user", "+447400999999")
    assert nobody.status == 7


@pytest.mark.slow
def test_google_sign_in_and_refresh_in_real_processes_with_tokens_on_stdin(google, sms_gateway):
    env = subprocess_env(**sms_gateway.env(), FIREBASE_AUTH_EMULATOR_HOST=google, FIREBASE_PROJECT_ID=PROJECT_ID)
    email = unique_email("cy")
    id_token, _ = helpers.mint_google_id_token(google, email=email, name="Cy")

    run = manage("google_signin", "--id-token", "-", "--json", env=env, input=id_token + "\n")
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    continuation = json.loads(run.stdout)["continuation"]

    run = manage("signup", "--phone", PHONE, "--country", "GB", "--name", "Cy", "--google-continuation", "-",
                 env=env, input=continuation)
    assert run.returncode == 0, run.stderr
    run = manage("signup_verify", "--phone", PHONE, "--otp", sms_gateway.wait_for_code(PHONE),
                 "--google-continuation", continuation, "--json", env=env)
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert body["user"]["type"] == "google"

    run = manage("token_refresh", "--refresh-token", "-", "--json", env=env, input=body["tokens"]["refresh_token"])
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    assert json.loads(run.stdout)["tokens"]["session_id"] == body["tokens"]["session_id"]

    # Reused: refused, and the session is ended before the process exits (the flow does
    # that after its answer, in the background).
    run = manage("token_refresh", "--refresh-token", body["tokens"]["refresh_token"], env=env)
    assert run.returncode == 5 and run.stderr.endswith("error: invalid_token: The token is invalid, expired or revoked.\n")
    assert LoginState.objects.get(pk=int(body["tokens"]["session_id"])).ended_reason == "refresh_reused"

    run = manage("profile", "--user", PHONE, "--json", env=env)
    assert (run.returncode, json.loads(run.stdout)["email"]) == (0, email)
    run = manage("token_refresh", "--refresh-token", "-", env=env, input="")
    assert (run.returncode, run.stdout) == (2, "")
    assert "refresh_token: Nothing was read from stdin." in run.stderr
