"""otp_lockout: an operator sees why a user's codes are refused, and resets a channel."""

from __future__ import annotations

import json

import pytest

from authenticator.management.base import operator_label
from otp.models import OtpLockoutReset
from tests.admin.test_otp_lockout import attacked_to_the_ceiling
from tests.cli.conftest import cli
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PHONE = "+447400123456"


def test_shows_each_channel_and_resets_one_with_a_reason():
    user = UserFactory(phone_number=PHONE)
    attacked_to_the_ceiling(user)
    run = cli("otp_lockout", "--user", PHONE, "--json")
    assert (run.status, run.err) == (0, "")
    channels = json.loads(run.out)["channels"]
    assert (channels["sms"]["failures"], channels["sms"]["ceiling"]) == (50, 50) and channels["sms"]["locked_until"]
    assert (channels["email"]["failures"], channels["email"]["locked_until"]) == (0, None)

    run = cli("otp_lockout", "--user", PHONE, "--reset", "sms", "--reason", "owner called")
    assert run.status == 0, run.err
    assert "  0/50 wrong sms codes in 30 days" in run.out
    reset = OtpLockoutReset.objects.get()
    assert (reset.channel, reset.reason, reset.actor_label) == ("sms", "owner called", operator_label())


def test_a_reset_needs_a_reason():
    UserFactory(phone_number=PHONE)
    run = cli("otp_lockout", "--user", PHONE, "--reset", "sms")
    assert run.status != 0 and "reason" in run.err
    assert not OtpLockoutReset.objects.exists()
