"""The SMS budgets (core.budgets) and the send limits hold on Redis and, with Redis
unreachable, on PostgreSQL: the same rules on both stores."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import caches
from django.db import connections

from authenticator.core.budgets import sms_budget_take, sms_spend
from authenticator.core.errors import RateLimited
from authenticator.core.limit_models import LimitCounter, SmsBudgetTrip
from authenticator.core.throttling import otp_send_allowed
from scripts.prove.harness import free_port


def dead_cache(settings) -> dict:
    """The cache pointed at a loopback port nobody listens on: Redis is unreachable."""
    default = settings.CACHES["default"]
    return {"default": {**default, "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                        "OPTIONS": {**default.get("OPTIONS", {}), "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}}


@pytest.fixture(params=["redis", "redis_unreachable", "local_memory"])
def store(request, settings):
    """Redis; Redis unreachable (PostgreSQL counts); the embedded default's local-memory
    cache, where the budgets count on the database too (a per-process cache would not add up)."""
    if request.param == "redis_unreachable":
        settings.CACHES = dead_cache(settings)
    if request.param == "local_memory":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "budgets"}}
    yield request.param
    caches["default"].close()


def budgets(settings, **values) -> None:
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "SMS_BUDGET_PER_COUNTRY_HOUR": 1000, "SMS_BUDGET_GLOBAL_HOUR": 1000,
                              "SMS_PREFIX_MAX_NUMBERS": 0, "SMS_BUDGET_COUNTRY_OVERRIDES": "", **values}


def take(phone: str, country: str = "GB", ip: str | None = "203.0.113.5", **kwargs):
    return sms_budget_take(phone=phone, country=country, ip=ip, **kwargs)


def gb(n: int) -> str:
    return f"+4474{n:08d}"


@pytest.mark.django_db
def test_a_country_budget_refuses_past_its_hour_and_counts_no_refusal(store, settings):
    budgets(settings, SMS_BUDGET_PER_COUNTRY_HOUR=3)
    states = [take(gb(i * 100_000)).state for i in range(3)]
    assert states == ["counted"] * 3
    over = take(gb(999_000_000))
    assert (over.state, over.budget) == ("over", "country") and 1 <= over.retry_after <= 3601
    assert take("+12025550123", country="US").state == "counted"  # another country: its own budget
    # The refusal was not counted: one more allowed is exactly one more.
    budgets(settings, SMS_BUDGET_PER_COUNTRY_HOUR=4)
    assert take(gb(5)).state == "counted"
    assert take(gb(6)).state == "over"
    trip = SmsBudgetTrip.objects.get()
    assert (trip.budget, trip.scope, trip.limit) == ("country", "GB", 3)


@pytest.mark.django_db
def test_overrides_and_the_global_budget(store, settings):
    budgets(settings, SMS_BUDGET_COUNTRY_OVERRIDES="NG:1,gb:0", SMS_BUDGET_PER_COUNTRY_HOUR=2, SMS_BUDGET_GLOBAL_HOUR=5)
    assert take("+2348031234567", country="NG").state == "counted"
    assert take("+2348031234568", country="NG").budget == "country"  # NG: 1 an hour
    for i in range(3):
        assert take(gb(i)).state == "counted"  # GB: 0 = no limit of its own
    assert take("+12025550123", country="US").state == "counted"  # the 5th SMS of the hour
    refused = take(gb(7))
    assert (refused.state, refused.budget) == ("over", "global")


@pytest.mark.django_db
def test_many_numbers_of_one_prefix_trip_the_range(store, settings):
    budgets(settings, SMS_PREFIX_DIGITS=8, SMS_PREFIX_MAX_NUMBERS=3, SMS_PREFIX_WINDOW=600)
    pumped = [f"+44740012{n:04d}" for n in range(5)]
    assert [take(p).state for p in pumped[:3]] == ["counted"] * 3
    assert take(pumped[0]).state == "counted"  # a number already seen adds no number
    tripped = take(pumped[3])
    assert (tripped.state, tripped.budget) == ("over", "prefix") and 1 <= tripped.retry_after <= 601
    assert take(pumped[1]).budget == "prefix"  # the whole range, for the rest of the window
    assert take("+447400990001").state == "counted"  # another range
    assert SmsBudgetTrip.objects.get().scope == "44740012"


@pytest.mark.django_db
def test_risk_signals_need_a_challenge_and_a_solved_one_passes_a_budget(store, settings):
    budgets(settings, SMS_BUDGET_PER_COUNTRY_HOUR=4, CHALLENGE_RISK_FRACTION=0.75, CHALLENGE_IP_MAX_NUMBERS=2)
    assert take(gb(1), at_risk_challenge=True).state == "counted"
    assert take(gb(2), at_risk_challenge=True).state == "counted"
    third = take(gb(3), ip="198.51.100.7", at_risk_challenge=True)  # the 3rd of 4: 75 %
    assert (third.state, third.budget) == ("at_risk", "country")
    assert take(gb(3), ip="198.51.100.7", challenged=True).state == "counted"
    assert take(gb(4), challenged=True).state == "counted"
    assert take(gb(5)).state == "over"
    assert take(gb(5), challenged=True).state == "counted"  # past the budget, with a solved challenge

    budgets(settings, CHALLENGE_IP_MAX_NUMBERS=2)
    address = "192.0.2.99"
    assert take("+12025550101", country="US", ip=address, at_risk_challenge=True).state == "counted"
    assert take("+12025550102", country="US", ip=address, at_risk_challenge=True).state == "counted"
    many = take("+12025550103", country="US", ip=address, at_risk_challenge=True)
    assert (many.state, many.budget) == ("at_risk", "address")


@pytest.mark.django_db
def test_the_spend_per_country_adds_up_both_stores(store, settings):
    budgets(settings)
    for i in range(3):
        take(gb(i))
    take("+12025550123", country="US")
    hours, spend = sms_spend(hours=3)
    assert len(hours) == 3
    assert spend["GB"][-1] == 3 and spend["US"][-1] == 1
    if store != "redis":
        assert LimitCounter.objects.filter(key__startswith="sms:country:").count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_pass_a_budget(store, settings):
    budgets(settings, SMS_BUDGET_PER_COUNTRY_HOUR=10)
    results: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def one(i: int) -> None:
        try:
            barrier.wait()
            state = take(gb(i)).state
            with lock:
                results.append(state)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["counted"] * 10 + ["over"] * 6


@pytest.mark.django_db
def test_send_limits_hold_with_redis_unreachable(settings):
    settings.CACHES = dead_cache(settings)
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 60, "OTP_MAX_PER_HOUR": 2,
                              "OTP_IDENTIFIER_MAX_PER_HOUR": 3}
    try:
        otp_send_allowed(identifier="+447400123456", purpose="signin", ip="203.0.113.1")
        with pytest.raises(RateLimited) as cooling:  # the cooldown, kept in PostgreSQL
            otp_send_allowed(identifier="+447400123456", purpose="signin", ip="203.0.113.1")
        assert 1 <= cooling.value.retry_after <= 61
        otp_send_allowed(identifier="+447400123456", purpose="signup", ip="203.0.113.1")  # its own purpose

        settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 0}
        number = "+447400999999"
        for _ in range(2):
            otp_send_allowed(identifier=number, purpose="signin", ip="203.0.113.1")
        with pytest.raises(RateLimited):  # two an hour from one address
            otp_send_allowed(identifier=number, purpose="signin", ip="203.0.113.1")
        otp_send_allowed(identifier=number, purpose="signin", ip="203.0.113.2")  # 3rd of the number's cap
        with pytest.raises(RateLimited) as capped:  # the number's cap, whatever the address
            otp_send_allowed(identifier=number, purpose="signin", ip="203.0.113.3")
        assert 1 <= capped.value.retry_after <= 3601
    finally:
        caches["default"].close()


@pytest.mark.parametrize("values,fragment", [
    ({"SMS_BUDGET_COUNTRY_OVERRIDES": "GB=5"}, "SMS_BUDGET_COUNTRY_OVERRIDES"),
    ({"SMS_BUDGET_COUNTRY_OVERRIDES": "GBR:5"}, "GBR:5"),
    ({"SMS_BUDGET_GLOBAL_HOUR": -1}, "SMS_BUDGET_GLOBAL_HOUR"),
    ({"CHALLENGE_MODE": "sometimes"}, "CHALLENGE_MODE"),
    ({"SIGNUP_COUNTRY_CHECK": "challenge"}, "needs a CHALLENGE_VERIFIER"),
    ({"CHALLENGE_VERIFIER": "authenticator.challenge.TurnstileVerifier", "TURNSTILE_SECRET": ""}, "TURNSTILE_SECRET"),
    ({"CHALLENGE_VERIFIER": "nowhere.Verifier"}, "nowhere.Verifier"),
])
def test_unreadable_budget_or_challenge_settings_stop_the_start(settings, values, fragment):
    from authenticator.challenge import _verifier
    from authenticator.checks import check_sms_guard

    _verifier.cache_clear()
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, **values}
    try:
        errors = check_sms_guard()
    finally:
        _verifier.cache_clear()
    assert [e.id for e in errors] == ["authenticator.E103"] and fragment in errors[0].msg


def test_the_shipped_settings_pass_the_check():
    from authenticator.checks import check_sms_guard

    assert check_sms_guard() == []


@pytest.mark.django_db
def test_a_request_that_texts_nobody_is_decided_alike_and_spends_nothing(store, settings):
    """The outside review's keep-out: sign-in requests for numbers with no account texted
    nobody but spent the country's budget, until every real request got 429."""
    budgets(settings, SMS_BUDGET_PER_COUNTRY_HOUR=2)
    assert [take(gb(100 + i), count=False).state for i in range(20)] == ["counted"] * 20  # nothing spent
    assert take(gb(1)).state == "counted"
    assert take(gb(2)).state == "counted"
    # Past the budget, a request that would text nobody is refused exactly like one that would.
    for count in (True, False):
        over = take(gb(3), count=count)
        assert (over.state, over.budget) == ("over", "country")


@pytest.mark.django_db
def test_a_number_that_texts_nobody_joins_its_prefix_like_any_other(store, settings):
    """The third review's oracle: left out of the prefix's numbers, a request for a number
    with no account let the next request of the range tell whether it had been one."""
    budgets(settings, SMS_PREFIX_MAX_NUMBERS=2, SMS_PREFIX_DIGITS=8)
    assert take(gb(1)).state == "counted"
    assert take(gb(2), count=False).state == "counted"
    over = take(gb(3), count=False)
    assert (over.state, over.budget) == ("over", "prefix")
