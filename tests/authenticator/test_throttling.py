"""The send limits and IP windows behave the same on Redis (scripts) and local memory."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from authenticator.core.errors import RateLimited
from authenticator.core.throttling import otp_send_allowed, requests_in_window

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttling-test"}}


@pytest.fixture(params=["redis", "locmem"])
def backend(request, settings):
    if request.param == "locmem":
        settings.CACHES = LOCMEM
    caches["default"].clear()
    yield request.param
    caches["default"].clear()


def test_cooldown_then_hourly_cap(backend, settings):
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 60, "OTP_MAX_PER_HOUR": 2}
    otp_send_allowed(identifier="+447400123456", purpose="signin")
    with pytest.raises(RateLimited) as cooling:
        otp_send_allowed(identifier="+447400123456", purpose="signin")
    assert 1 <= cooling.value.retry_after <= 61
    otp_send_allowed(identifier="+447400123456", purpose="signup")  # another purpose, its own limit
    otp_send_allowed(identifier="+447400999999", purpose="signin")  # another identifier too


def test_hourly_cap_without_cooldown(backend, settings):
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 0, "OTP_MAX_PER_HOUR": 3}
    for _ in range(3):
        otp_send_allowed(identifier="a@example.com", purpose="signin")
    with pytest.raises(RateLimited) as capped:
        otp_send_allowed(identifier="a@example.com", purpose="signin")
    assert 1 <= capped.value.retry_after <= 3601


def test_the_request_window_counts_per_ident_on_either_cache(backend):
    counted = requests_in_window(scope="otp_ip", ident="203.0.113.9", duration=60)
    assert counted[0] == 1 and 0 < counted[1] <= 60
    assert requests_in_window(scope="otp_ip", ident="203.0.113.9", duration=60)[0] == 2
    assert requests_in_window(scope="otp_ip", ident="203.0.113.10", duration=60)[0] == 1


def test_cooldown_and_hourly_cap_count_per_address_under_a_cap_per_identifier(backend, settings):
    # The old limits counted per identifier only: whoever asked five times an hour for a
    # number kept its owner from getting any code.
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 60, "OTP_MAX_PER_HOUR": 5,
                              "OTP_IDENTIFIER_MAX_PER_HOUR": 7}
    otp_send_allowed(identifier="+447400123456", purpose="signin", ip="203.0.113.66")
    with pytest.raises(RateLimited):  # the attacker's own cooldown
        otp_send_allowed(identifier="+447400123456", purpose="signin", ip="203.0.113.66")
    otp_send_allowed(identifier="+447400123456", purpose="signin", ip="81.2.69.160")  # the owner still gets one

    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 0}
    number = "+447400999999"
    for _ in range(5):
        otp_send_allowed(identifier=number, purpose="signin", ip="203.0.113.66")
    with pytest.raises(RateLimited):  # five an hour from one address
        otp_send_allowed(identifier=number, purpose="signin", ip="203.0.113.66")
    for _ in range(2):
        otp_send_allowed(identifier=number, purpose="signin", ip="81.2.69.160")  # the owner: 6th and 7th
    with pytest.raises(RateLimited) as capped:  # the number's own cap, whatever the address
        otp_send_allowed(identifier=number, purpose="signin", ip="198.51.100.1")
    assert 1 <= capped.value.retry_after <= 3601
