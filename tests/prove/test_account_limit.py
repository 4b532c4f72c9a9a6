"""The per-account wrong-try ceiling counts wrong tries, not a busy user's sign-ins."""

from __future__ import annotations

import pytest

from otp.models import OtpPurpose
from otp.services import otp_check, otp_consume, otp_issue
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ACCOUNT_MAX_FAILURES = 20


def _sign_in_once(user) -> None:
    _otp, code = otp_issue(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel="sms", sent_to=user.phone_number)
    otp_consume(checked=otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNIN, code=code))


def test_right_codes_do_not_count_towards_the_account_lockout():
    user = UserFactory(phone_number="+447400123456")
    for _ in range(ACCOUNT_MAX_FAILURES + 1):
        _sign_in_once(user)
    otp, _code = otp_issue(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel="sms", sent_to=user.phone_number)
    assert otp.attempts == 0


def _wrong_round(user) -> None:
    """Five wrong tries on a fresh code, then the code runs out its time."""
    from django.utils import timezone

    from authenticator.errors import InvalidOtp
    from otp.models import Otp

    otp, code = otp_issue(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel="sms", sent_to=user.phone_number)
    assert otp.attempts == 0
    for _ in range(5):
        with pytest.raises(InvalidOtp):
            otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNIN, code=f"{(int(code) + 1) % 10**6:06d}")
    Otp.objects.filter(pk=otp.pk).update(expired_at=timezone.now())


def test_new_codes_are_born_locked_after_exactly_the_account_ceiling_of_wrong_tries():
    user = UserFactory(phone_number="+447400123456")
    for _ in range(10):
        _sign_in_once(user)
    for _ in range(ACCOUNT_MAX_FAILURES // 5):
        _wrong_round(user)  # every one of these codes is still born unlocked
    otp, _code = otp_issue(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel="sms", sent_to=user.phone_number)
    assert otp.attempts == 5  # born locked


@pytest.mark.django_db(transaction=True)
def test_send_limits_fail_open_when_redis_is_unreachable(settings):
    """A Redis outage must not refuse every code (the wrong-try limit lives in PostgreSQL)."""
    from django.core.cache import caches

    from authenticator.throttling import otp_send_allowed
    from scripts.prove.harness import free_port

    dead = {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {**settings.CACHES["default"].get("OPTIONS", {}), "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}
    settings.CACHES = {"default": dead}
    try:
        for _ in range(3):  # the cooldown would refuse the 2nd if the outage were read as "already sent"
            otp_send_allowed(identifier="+447400123456", purpose=OtpPurpose.SIGNIN)
    finally:
        caches["default"].close()
