"""The commands as an operator runs them: ``python manage.py ...`` in its own process."""

from __future__ import annotations

import json

import pytest

from accounts.models import StatusHistory, User, UserStatus
from sessions_log.models import LoginState, LoginStatus
from tests.cli.conftest import manage, subprocess_env

PHONE = "+447400123457"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_sign_up_and_sign_in_in_real_processes(sms_gateway):
    env = subprocess_env(**sms_gateway.env())

    run = manage("signup", "--phone", PHONE, "--country", "GB", "--name", "Bea", "--json", env=env)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    assert json.loads(run.stdout) == {"status": "otp_sent", "channel": "sms", "expires_in": 300, "resend_after": 60}
    code = sms_gateway.wait_for_code(PHONE)

    wrong = "000000" if code != "000000" else "111111"
    run = manage("signup_verify", "--phone", PHONE, "--otp", wrong, env=env)
    assert (run.returncode, run.stdout, run.stderr) == (3, "", "error: invalid_otp: The code is not valid.\n")

    run = manage("signup_verify", "--phone", PHONE, "--otp", code, "--json", env=env)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    body = json.loads(run.stdout)
    assert body["user"]["status"] == "active"
    assert body["tokens"]["token_type"] == "Bearer"

    # The sign-in code is sent from a background thread: the command waits for it before
    # it exits, so the SMS has left by the time the process is gone.
    run = manage("otp_request", "--phone", PHONE, "--json", env=env)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    assert len(sms_gateway.sent_to(PHONE)) == 2
    code = sms_gateway.wait_for_code(PHONE, after=1, timeout=0.1)

    run = manage("signin", "--phone", PHONE, "--otp", code, "--json", env=env)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    signed_in = json.loads(run.stdout)
    assert signed_in["user"]["id"] == body["user"]["id"]
    assert signed_in["tokens"]["session_id"] != body["tokens"]["session_id"]
    assert LoginState.objects.filter(user_id=int(body["user"]["id"]), status=LoginStatus.ACTIVE).count() == 2


def test_block_in_a_real_process_records_the_operator(sms_gateway):
    env = subprocess_env(**sms_gateway.env(), USER="alice", LOGNAME="alice")
    manage("signup", "--phone", PHONE, "--country", "GB", "--name", "Bea", env=env)
    manage("signup_verify", "--phone", PHONE, "--otp", sms_gateway.wait_for_code(PHONE), env=env)

    run = manage("block", "--user", "07400 123457", "--country", "GB", "--reason", "chargeback fraud", "--json", env=env)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    assert json.loads(run.stdout)["status"] == "blocked"
    row = StatusHistory.objects.filter(user__phone_number=PHONE).first()
    assert (row.status, row.previous_status, row.reason, row.actor_label) == ("blocked", "active", "chargeback fraud", "cli:alice")

    run = manage("signin", "--phone", PHONE, "--otp", "123456", env=env)
    assert run.returncode == 3  # no code was sent to a blocked account, so none is valid
    run = manage("block", "--user", "nobody@example.com", "--reason", "x", env=env)
    assert (run.returncode, run.stdout, run.stderr) == (7, "", "error: not_found: No user nobody@example.com.\n")
    assert User.objects.get(phone_number=PHONE).status == UserStatus.BLOCKED


def test_argument_errors_exit_2_with_usage(sms_gateway):
    run = manage("signup", "--phone", PHONE, env=subprocess_env(**sms_gateway.env()))
    assert run.returncode == 2
    assert "the following arguments are required: --country, --name" in run.stderr
