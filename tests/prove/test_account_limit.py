"""The per-account wrong-try ceiling counts wrong tries, not a busy user's sign-ins."""

from __future__ import annotations

import pytest

from otp.models import OtpPurpose
from otp.services import otp_check, otp_consume, otp_issue
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ACCOUNT_MAX_FAILURES = 100  # OTP_ACCOUNT_MAX_FAILURES: per account and 30 days (NIST SP 800-63B 5.2.2)
CHANNEL_CEILING = ACCOUNT_MAX_FAILURES // 2  # each channel (sms, email) has half
MAX_ATTEMPTS = 5


def _issue(user, channel: str = "sms"):
    to = user.phone_number if channel == "sms" else user.email
    return otp_issue(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel=channel, sent_to=to)


def _sign_in_once(user) -> None:
    _otp, code = _issue(user)
    otp_consume(checked=otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel="sms", code=code))


def test_right_codes_do_not_count_towards_the_account_lockout():
    user = UserFactory(phone_number="+447400123456")
    for _ in range(CHANNEL_CEILING + 1):
        _sign_in_once(user)
    otp, _code = _issue(user)
    assert otp.attempts == 0


def _wrong_round(user, channel: str = "sms", tries: int = MAX_ATTEMPTS + 1) -> int:
    """Up to ``tries`` wrong tries on a fresh code, until it refuses; then it runs out its time.
    Returns how many were compared (answered invalid_otp)."""
    from django.utils import timezone

    from authenticator.core.errors import InvalidOtp, TooManyAttempts
    from otp.models import Otp

    otp, code = _issue(user, channel)
    compared = 0
    for _ in range(tries):
        try:
            otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel=channel, code=f"{(int(code) + 1) % 10**6:06d}")
        except InvalidOtp:
            compared += 1
        except TooManyAttempts:
            break
    Otp.objects.filter(pk=otp.pk).update(expired_at=timezone.now())
    return compared


def test_each_fresh_code_gets_its_five_tries_until_the_channel_ceiling_then_none():
    user = UserFactory(phone_number="+447400123456")
    for _ in range(10):
        _sign_in_once(user)
    compared = [_wrong_round(user) for _ in range(CHANNEL_CEILING // MAX_ATTEMPTS + 2)]
    print(f"\nwrong tries compared per fresh code: {compared}")
    # Guessers never make the next fresh code fail: each starts at 0 tries, until the
    # ceiling, which is reached exactly and never passed.
    assert compared == [MAX_ATTEMPTS] * (CHANNEL_CEILING // MAX_ATTEMPTS) + [0, 0]
    assert sum(compared) == CHANNEL_CEILING
    otp, _code = _issue(user)
    assert otp.attempts == MAX_ATTEMPTS  # born locked


def test_a_code_near_the_ceiling_gets_only_the_tries_left():
    user = UserFactory(phone_number="+447400123456")
    _wrong_round(user, tries=3)
    for _ in range((CHANNEL_CEILING - 3) // MAX_ATTEMPTS):
        _wrong_round(user)
    left = CHANNEL_CEILING - 3 - (CHANNEL_CEILING - 3) // MAX_ATTEMPTS * MAX_ATTEMPTS
    assert 0 < left < MAX_ATTEMPTS
    assert _wrong_round(user) == left
    assert _wrong_round(user) == 0


def test_an_attacked_phone_leaves_email_codes_working_and_support_can_reset_the_phone():
    from otp.services import otp_lockout_reset, otp_lockout_status

    user = UserFactory(phone_number="+447400123456", email="owner@example.com")
    while _wrong_round(user, "sms"):
        pass
    status = otp_lockout_status(user_id=user.pk, channel="sms")
    assert (status.failures, status.ceiling) == (CHANNEL_CEILING, CHANNEL_CEILING)
    assert status.locked_until is not None
    assert f"{CHANNEL_CEILING}/{CHANNEL_CEILING} wrong sms codes in 30 days, locked until" in str(status)
    # The other channel has its own half: the owner signs in with an email code.
    otp, code = _issue(user, "email")
    assert otp.attempts == 0
    otp_consume(checked=otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel="email", code=code))
    assert otp_lockout_status(user_id=user.pk, channel="email").locked_until is None
    # Support's way back for the phone: a reset with a reason; earlier tries stop counting.
    reset = otp_lockout_reset(user_id=user.pk, channel="sms", reason="owner called, ID checked", actor_id=None)
    assert reset.reason == "owner called, ID checked"
    assert otp_lockout_status(user_id=user.pk, channel="sms").failures == 0
    assert _issue(user)[0].attempts == 0


def test_the_ceiling_lifts_as_wrong_tries_leave_the_thirty_day_window():
    from datetime import timedelta

    from otp.models import Otp

    user = UserFactory(phone_number="+447400123456")
    while _wrong_round(user):
        pass
    assert _issue(user)[0].attempts == MAX_ATTEMPTS
    Otp.objects.filter(user=user).update(created_at=models_now() - timedelta(days=30, seconds=1))
    assert _issue(user)[0].attempts == 0


def test_purging_expired_codes_keeps_the_wrong_tries_that_still_count():
    from datetime import timedelta

    from otp.models import Otp
    from otp.services import otps_purge_expired

    user = UserFactory(phone_number="+447400123456")
    _sign_in_once(user)  # a used code: no wrong try in it
    while _wrong_round(user):  # ten codes of five wrong tries, then one born locked (none made)
        pass
    Otp.objects.filter(user=user).update(expired_at=models_now() - timedelta(days=2))
    assert otps_purge_expired(older_than=timedelta(days=1)) == 2
    assert Otp.objects.filter(user=user).count() == CHANNEL_CEILING // MAX_ATTEMPTS
    assert _issue(user)[0].attempts == MAX_ATTEMPTS  # still locked after the purge


def test_decoys_have_the_same_ceiling():
    from authenticator.core.errors import InvalidOtp, TooManyAttempts
    from otp.services import otp_check_decoy, otp_decoy_issue

    compared = []
    for _ in range(CHANNEL_CEILING // MAX_ATTEMPTS + 1):
        otp_decoy_issue(identifier="+447400999999", purpose=OtpPurpose.SIGNIN)
        n = 0
        for _ in range(MAX_ATTEMPTS + 1):
            try:
                otp_check_decoy(identifier="+447400999999", purpose=OtpPurpose.SIGNIN, code="123456")
            except InvalidOtp:
                n += 1
            except TooManyAttempts:
                break
        compared.append(n)
    assert compared == [MAX_ATTEMPTS] * (CHANNEL_CEILING // MAX_ATTEMPTS) + [0]


def models_now():
    from django.utils import timezone

    return timezone.now()


@pytest.mark.django_db(transaction=True)
def test_send_limits_hold_when_redis_is_unreachable(settings):
    """A Redis outage neither refuses every code nor lifts the limits: PostgreSQL counts."""
    from django.core.cache import caches

    from authenticator.core.errors import RateLimited
    from authenticator.core.throttling import otp_send_allowed
    from scripts.prove.harness import free_port

    dead = {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {**settings.CACHES["default"].get("OPTIONS", {}), "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}
    settings.CACHES = {"default": dead}
    try:
        otp_send_allowed(identifier="+447400123456", purpose=OtpPurpose.SIGNIN)  # the outage is not "already sent"
        with pytest.raises(RateLimited):  # and the cooldown still holds
            otp_send_allowed(identifier="+447400123456", purpose=OtpPurpose.SIGNIN)
        otp_send_allowed(identifier="+447400123457", purpose=OtpPurpose.SIGNIN)
    finally:
        caches["default"].close()


def test_purging_deletes_spent_decoys_and_keeps_those_whose_wrong_tries_still_count():
    from datetime import timedelta

    from authenticator.core.errors import InvalidOtp
    from otp.models import OtpDecoy
    from otp.services import otp_check_decoy, otp_decoy_issue, otps_purge_expired

    otp_decoy_issue(identifier="+447400999998", purpose=OtpPurpose.SIGNIN)  # never guessed
    otp_decoy_issue(identifier="+447400999999", purpose=OtpPurpose.SIGNIN)
    with pytest.raises(InvalidOtp):
        otp_check_decoy(identifier="+447400999999", purpose=OtpPurpose.SIGNIN, code="123456")
    OtpDecoy.objects.update(expired_at=models_now() - timedelta(days=2))
    assert otps_purge_expired(older_than=timedelta(days=1)) == 1
    assert list(OtpDecoy.objects.values_list("attempts", flat=True)) == [1]
    OtpDecoy.objects.update(created_at=models_now() - timedelta(days=31))
    assert otps_purge_expired(older_than=timedelta(days=1)) == 1
