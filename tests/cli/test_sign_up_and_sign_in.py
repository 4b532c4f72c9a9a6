"""Sign up and sign in from the terminal, through call_command (this process)."""

from __future__ import annotations

import json
import re

import pytest

from accounts.models import User, UserStatus
from authenticator.tokenizer import tokenizer
from otp.models import Otp, OtpPurpose
from sessions_log.models import LoginState, LoginStatus
from tests.cli.conftest import cli, outbox_code

PHONE = "+447400123456"
TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in", "session_id"}

# otp_request sends from the background pool, on its own connection: data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_up_then_sign_in_prints_tokens_as_json():
    run = cli("signup", "--phone", "07400 123456", "--country", "gb", "--name", "Ann", "--email", "ann@example.com", "--json")
    assert (run.status, run.err) == (0, "")
    assert json.loads(run.out) == {"status": "otp_sent", "channel": "sms", "expires_in": 300, "resend_after": 60}
    assert User.objects.get(phone_number=PHONE).status == UserStatus.UNVERIFIED

    run = cli("signup_verify", "--phone", PHONE, "--otp", outbox_code(PHONE), "--device", "ops laptop", "--json")
    assert (run.status, run.err) == (0, "")
    body = json.loads(run.out)
    assert set(body) == {"user", "session", "tokens"}
    assert body["user"]["phone_number"] == PHONE
    assert body["user"]["status"] == "active"
    assert body["user"]["email"] == "ann@example.com"
    assert set(body["tokens"]) == TOKEN_KEYS
    assert body["session"]["device"] == "ops laptop"
    assert body["session"]["current"] is True
    assert body["tokens"]["session_id"] == body["session"]["id"]
    seen = tokenizer().introspect(token=body["tokens"]["access_token"])
    assert (seen.active, seen.sub, seen.sid) == (True, body["user"]["id"], body["session"]["id"])

    run = cli("otp_request", "--phone", PHONE, "--json")
    assert (run.status, run.err) == (0, "")
    assert json.loads(run.out) == {"status": "otp_sent", "channel": "sms", "expires_in": 300, "resend_after": 60}

    run = cli("signin", "--phone", PHONE, "--otp", outbox_code(PHONE), "--json")
    assert (run.status, run.err) == (0, "")
    signed_in = json.loads(run.out)
    assert signed_in["user"]["id"] == body["user"]["id"]
    assert signed_in["session"]["device"] == "cli"
    assert signed_in["session"]["method"] == "otp_sms"
    assert tokenizer().introspect(token=signed_in["tokens"]["access_token"]).active is True
    assert LoginState.objects.filter(user_id=int(body["user"]["id"]), status=LoginStatus.ACTIVE).count() == 2


def test_sign_in_by_email_with_the_otp_verify_name():
    cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann", "--email", "Ann@Example.com")
    assert cli("signup_verify", "--phone", PHONE, "--otp", outbox_code(PHONE)).status == 0
    # Sign-in by email needs a verified address (as confirming it through /me does); the
    # flow looks it up case-insensitively.
    from django.utils import timezone

    from accounts.models import User

    User.objects.filter(phone_number=PHONE).update(email_verified_at=timezone.now())
    assert cli("otp_request", "--email", "ann@example.com").status == 0
    from django.core import mail

    code = next(m.body for m in reversed(mail.outbox) if "Ann@example.com" in m.to).split("code is ")[1][:6]
    run = cli("otp_verify", "--email", "ann@example.com", "--otp", code)
    assert run.status == 0, run.err
    assert run.out.splitlines()[0].startswith("signed in: user ")
    assert "access_token: " in run.out and "refresh_token: " in run.out


def test_text_output_names_the_user_and_the_tokens():
    cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann")
    run = cli("signup_verify", "--phone", PHONE, "--otp", outbox_code(PHONE))
    user = User.objects.get(phone_number=PHONE)
    state = LoginState.objects.get(user=user)
    lines = run.out.splitlines()
    assert lines[0] == f"signed in: user {user.pk} ({PHONE}) active, tier 1 level 1"
    assert lines[1] == f"session {state.pk}"
    assert lines[2].startswith("access_token: ey")
    assert f"session_id: {state.pk}" in lines


def test_wrong_code_exits_3_with_one_line_and_counts_the_try():
    cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann")
    good = outbox_code(PHONE)
    wrong = "000000" if good != "000000" else "111111"
    run = cli("signup_verify", "--phone", PHONE, "--otp", wrong)
    assert (run.status, run.out, run.err) == (3, "", "error: invalid_otp: The code is not valid.\n")
    run = cli("signup_verify", "--phone", PHONE, "--otp", wrong, "--json")
    assert (run.status, run.out) == (3, "")
    assert run.err.count("\n") == 1
    assert json.loads(run.err) == {"code": "invalid_otp", "detail": "The code is not valid."}
    assert Otp.objects.get(user__phone_number=PHONE, purpose=OtpPurpose.SIGNUP).attempts == 2
    assert User.objects.get(phone_number=PHONE).status == UserStatus.UNVERIFIED


def test_five_wrong_codes_lock_the_code_as_over_rest():
    cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann")
    good = outbox_code(PHONE)
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(5):
        assert cli("signup_verify", "--phone", PHONE, "--otp", wrong).status == 3
    run = cli("signup_verify", "--phone", PHONE, "--otp", good)
    assert run.status == 4
    # Like every 429 elsewhere, it says when a new code may be asked for.
    assert re.fullmatch(r"error: too_many_attempts: Too many wrong codes; request a new code later\. \(retry after \d+ s\)\n", run.err), run.err


def test_malformed_code_is_refused_without_costing_a_try():
    cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann")
    run = cli("signup_verify", "--phone", PHONE, "--otp", "12ab")
    assert (run.status, run.out) == (2, "")
    # The same field errors as REST's answer (authenticator.edge.inputs validates both).
    assert run.err == ("error: invalid_request: The request is invalid. "
                       "(otp: Ensure this field has at least 6 characters.; otp: Enter the 6-digit code.)\n")
    assert Otp.objects.get(user__phone_number=PHONE).attempts == 0


def test_a_second_code_within_a_minute_is_rate_limited_as_over_rest():
    assert cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann").status == 0
    run = cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann")
    assert run.status == 4
    assert run.err.startswith("error: rate_limited: Too many requests; try again later. (retry after ")
    assert run.err.count("\n") == 1


def test_invalid_phone_number_names_the_field():
    run = cli("signup", "--phone", "12", "--country", "GB", "--name", "Ann")
    assert (run.status, run.out) == (2, "")
    assert run.err == "error: invalid_request: The request is invalid. (phone_number: Enter a valid phone number.)\n"


def test_unknown_number_gets_the_same_answer_and_no_code():
    run = cli("otp_request", "--phone", "+447400999999", "--json")
    assert run.status == 0
    assert json.loads(run.out) == {"status": "otp_sent", "channel": "sms", "expires_in": 300, "resend_after": 60}
    from otp import channels

    assert [m for m in channels.outbox if m.to == "+447400999999"] == []
    run = cli("signin", "--phone", "+447400999999", "--otp", "123456")
    assert (run.status, run.err) == (3, "error: invalid_otp: The code is not valid.\n")


def test_the_console_sms_goes_to_stderr_so_stdout_stays_json(capsys, settings):
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "SMS_SENDER": "otp.channels.ConsoleSmsSender"}
    run = cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann", "--json")
    assert run.status == 0
    assert json.loads(run.out)["status"] == "otp_sent"
    err = capsys.readouterr().err
    assert f"SMS to {PHONE}: Your Authenticator code is " in err


def test_the_commands_take_a_challenge_token_when_the_service_asks_for_one(settings):
    from authenticator.challenge import _verifier
    from scripts.prove.turnstile import TurnstileServer

    server = TurnstileServer(secret="s3cret")
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "CHALLENGE_VERIFIER": "authenticator.challenge.TurnstileVerifier",
                              "TURNSTILE_SECRET": "s3cret", "TURNSTILE_VERIFY_URL": server.url, "CHALLENGE_MODE": "always"}
    _verifier.cache_clear()
    try:
        refused = cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann", "--json")
        assert refused.status == 11 and json.loads(refused.err)["code"] == "challenge_required"
        run = cli("signup", "--phone", PHONE, "--country", "GB", "--name", "Ann",
                  "--challenge-token", server.issue("signup"))
        assert run.status == 0, run.err
        run = cli("otp_request", "--email", "ann@example.com", "--challenge-token", server.issue("sign_in"))
        assert run.status == 0, run.err
    finally:
        server.stop()
        _verifier.cache_clear()
