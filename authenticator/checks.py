"""System checks for a production start (DEBUG off); registered from AuthenticatorConfig.ready().

Every server (gunicorn and hypercorn through config/startup.py, ``manage.py grpcserver``)
and every management command runs them, so a deployment that would be unsafe does not
start at all instead of failing one request at a time.

Ids: ``authenticator.E101`` the cache is per process (local memory, dummy) or per host
(files): a sign-out in one process would not reach the others' cached introspections,
nor throttles be shared; ``authenticator.E102`` TOKENIZER_URL is plain http:// to a host
that is not this one, without TOKENIZER_ALLOW_PLAINTEXT; ``authenticator.E103`` the SMS
budgets' or the challenge's settings can't be read (whatever DEBUG says: a budget that
does not parse must not start as "no budget"); ``authenticator.E104``
CELERY_BROKER_URL is set but not a Redis URL (the only broker the deliveries are built
and tested on), checked whatever DEBUG says.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error

from authenticator.core.conf import app_settings

PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.filebased.FileBasedCache",
)


def check_shared_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if settings.DEBUG or backend not in PER_PROCESS_CACHES:
        return []
    return [Error(
        f"The cache is {backend.rsplit('.', 1)[-1]} with DEBUG off: each process keeps its own, so a sign-out or a "
        "block would not reach the access tokens other processes have cached, and throttles would not add up.",
        hint="Set REDIS_URL (every process of the deployment on the same Redis).",
        id="authenticator.E101",
    )]


def check_tokenizer_transport(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    url = app_settings.TOKENIZER_URL
    if settings.DEBUG or not url or app_settings.TOKENIZER_ALLOW_PLAINTEXT:
        return []
    parts = urlsplit(url)
    if parts.scheme != "http" or _loopback(parts.hostname or ""):
        return []
    return [Error(
        f"TOKENIZER_URL is plain http:// to {parts.hostname}: the API key and every token would cross the network unencrypted.",
        hint="Use https://, or set TOKENIZER_ALLOW_PLAINTEXT=1 if the link is encrypted otherwise (a service mesh with mTLS).",
        id="authenticator.E102",
    )]


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_sms_guard(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The SMS budgets and the challenge: every setting readable, and a challenge where one
    is asked for."""
    from authenticator.core.budgets import country_overrides

    problems = []
    try:
        for country, limit in country_overrides().items():
            if len(country) != 2 or not country.isalpha() or limit < 0:
                problems.append(f"SMS_BUDGET_COUNTRY_OVERRIDES: {country}:{limit} is not ISO code:non-negative number")
    except (TypeError, ValueError):
        problems.append("SMS_BUDGET_COUNTRY_OVERRIDES must read like GB:2000,NG:20")
    for name in ("SMS_BUDGET_PER_COUNTRY_HOUR", "SMS_BUDGET_GLOBAL_HOUR", "SMS_PREFIX_MAX_NUMBERS", "CHALLENGE_IP_MAX_NUMBERS"):
        if int(getattr(app_settings, name)) < 0:
            problems.append(f"{name} must be 0 (no limit) or more")
    if not 1 <= int(app_settings.SMS_PREFIX_DIGITS) <= 15 or int(app_settings.SMS_PREFIX_WINDOW) < 1:
        problems.append("SMS_PREFIX_DIGITS must be 1 to 15, SMS_PREFIX_WINDOW at least 1 second")
    if str(app_settings.CHALLENGE_MODE).lower() not in ("always", "at_risk"):
        problems.append("CHALLENGE_MODE must be always or at_risk")
    check = str(app_settings.SIGNUP_COUNTRY_CHECK).lower()
    if check not in ("off", "challenge", "refuse"):
        problems.append("SIGNUP_COUNTRY_CHECK must be off, challenge or refuse")
    if app_settings.CHALLENGE_VERIFIER:
        try:
            from authenticator.challenge import challenge_verifier

            challenge_verifier()
        except Exception as exc:  # noqa: BLE001 - any failure to build it is a configuration error
            problems.append(f"CHALLENGE_VERIFIER {app_settings.CHALLENGE_VERIFIER} can't be made: {exc}")
    elif check == "challenge":
        problems.append("SIGNUP_COUNTRY_CHECK=challenge needs a CHALLENGE_VERIFIER")
    return [Error(text, hint="See docs/operators/configuration.md (SMS budgets, the challenge).", id="authenticator.E103")
            for text in problems]


def check_broker(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    url = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    parts = urlsplit(url)
    if not url or (parts.scheme in ("redis", "rediss") and parts.hostname):
        return []
    return [Error(
        f"CELERY_BROKER_URL is not a Redis URL ({parts.scheme or 'no scheme'}://…): deliveries would never reach a worker.",
        hint="Give redis://[:PASSWORD@]HOST:6379/DB (or rediss:// for TLS), or leave it unset to send in-process.",
        id="authenticator.E104",
    )]
