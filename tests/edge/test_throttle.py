"""Throttling by scope and key: one budget per (scope, key), on Redis and local memory."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from authenticator.core.errors import RateLimited
from authenticator.edge.throttle import rate, throttle, throttle_key
from tests.factories import UserFactory

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "edge-throttle-test"}}


@pytest.fixture(params=["redis", "locmem"])
def backend(request, settings):
    if request.param == "locmem":
        settings.CACHES = LOCMEM
    caches["default"].clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "otp_ip": "2/min", "user": "3/h"}}
    yield request.param
    caches["default"].clear()


def test_a_key_gets_its_scopes_rate_then_is_told_when_to_come_back(backend):
    for _ in range(2):
        throttle(scope="otp_ip", key="203.0.113.9")
    with pytest.raises(RateLimited) as limited:
        throttle(scope="otp_ip", key="203.0.113.9")
    assert 1 <= limited.value.retry_after <= 60
    throttle(scope="otp_ip", key="203.0.113.10")  # another address: its own budget
    throttle(scope="auth_ip", key="203.0.113.9")  # another scope too


def test_unknown_scopes_are_not_limited(backend):
    assert rate("no-such-scope") is None
    for _ in range(5):
        throttle(scope="no-such-scope", key="k")
        throttle(scope=None, key="k")


@pytest.mark.django_db
def test_a_signed_in_user_is_counted_as_the_user_wherever_they_call_from(backend):
    user = UserFactory()
    assert throttle_key(user=user, ip="203.0.113.9") == f"user:{user.pk}"
    assert throttle_key(user=None, ip=None) == "unknown"
    for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        throttle(scope="user", key=throttle_key(user=user, ip=ip))
    with pytest.raises(RateLimited) as limited:
        throttle(scope="user", key=throttle_key(user=user, ip="203.0.113.4"))
    assert limited.value.retry_after > 60  # an hour's window


def test_a_cache_outage_lets_calls_through(settings, caplog):
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                                   "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"otp_ip": "1/min"}}
    for _ in range(3):
        throttle(scope="otp_ip", key="203.0.113.9")
    assert "throttle skipped" in caplog.text
