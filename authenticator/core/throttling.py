"""Limits kept in the shared cache (Redis): code sends per identifier, requests per IP.

Code sends: the resend cooldown and OTP_MAX_PER_HOUR count per identifier *and client
address*, under a larger per-identifier cap (OTP_IDENTIFIER_MAX_PER_HOUR): someone else
asking for codes for your number from their address does not stop you getting one from
yours, and the cap still bounds the texts a number receives (from many addresses a
flood can use it up for the hour — the price of not letting anyone text a number
without limit). Applied the same way to known and unknown identifiers, so a limit never
tells whether an account exists. On sign-in, where the owner's own address is exempt from
the identifier's cap, that cap refuses quietly (the usual answer, nothing sent): a 429 there
would tell someone sharing the owner's address that the account exists. Keys hold a hash of the normalised identifier, never the number or email.
When the cache is down the limits do not fail open: the same rules run on the database
(``authenticator.core.limits``, one upsert per count), so losing Redis neither lifts the
cooldown nor the hourly caps (logged at each fallback). With the database down too the
request fails (503), and no code is sent.

On Redis each check is one atomic script — one round trip on the hot, unauthenticated
path; on any other cache (the embedded local-memory default) the same rules run through
Django's cache API.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.core.cache import cache

from . import limits
from .conf import app_settings
from .errors import RateLimited

log = logging.getLogger(__name__)

# KEYS: cooldown and hour counter of (identifier, address), hour counter of the identifier.
# ARGV: now, cooldown seconds, per-hour cap of an address, of the identifier.
# Returns {0, n} allowed (n-th this hour), {1, until} in cooldown, {2, n} over the address's
# cap, {3, m} over the identifier's.
_SEND_SCRIPT = """
local until_ = redis.call('GET', KEYS[1])
if until_ then return {1, until_} end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], 3600) end
if n > tonumber(ARGV[3]) then return {2, tostring(n)} end
local m = redis.call('INCR', KEYS[3])
if m == 1 then redis.call('EXPIRE', KEYS[3], 3600) end
if m > tonumber(ARGV[4]) then return {3, tostring(m)} end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])), 'EX', ARGV[2])
end
return {0, tostring(n)}
"""

# KEYS: the window's counter. ARGV: window seconds. Returns the count in this window.
_WINDOW_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

_scripts: dict[tuple[int, str], object] = {}


def _redis_script(source: str):
    """(redis client, registered script) when the cache is django-redis, else None."""
    get_client = getattr(getattr(cache, "client", None), "get_client", None)
    if get_client is None:
        return None
    client = get_client(write=True)
    key = (id(client), source)
    script = _scripts.get(key)
    if script is None:
        script = _scripts[key] = client.register_script(source)
    return script


def _key(kind: str, identifier: str) -> str:
    digest = hashlib.sha256(identifier.encode()).hexdigest()[:32]
    return f"otp:{kind}:{digest}"


def otp_send_allowed(*, identifier: str, purpose: str, ip: str | None = None, owners_address: bool | None = None) -> bool:
    """Raise RateLimited unless a new code may go to ``identifier`` now, asked from
    client address ``ip`` (None: not over the network); counts this one.

    ``owners_address`` (sign-in only): whether the account signed in from ``ip`` before.
    Its requests keep their own cooldown and hourly limit but are not held to the
    identifier's cap, which others could use up to keep the owner out. Because only a
    real account can have such an address, a refusal by the identifier's cap would tell
    whoever shares the owner's address that the account exists: with ``owners_address``
    given, the identifier's cap is quiet instead — False: answer as if sent, send nothing
    (for every identifier alike). True: send."""
    now = time.time()
    cooldown = int(app_settings.OTP_RESEND_COOLDOWN)
    per_hour = int(app_settings.OTP_MAX_PER_HOUR)
    per_identifier = 2**31 if owners_address else max(int(app_settings.OTP_IDENTIFIER_MAX_PER_HOUR), per_hour)
    quiet = owners_address is not None
    # Emails differ only in case for the same inbox; E.164 numbers have no letters.
    ident = f"{purpose}:{identifier.lower()}"
    asker = f"{ident}\x1f{ip or '-'}"
    window = int(now // 3600)
    cooldown_key, hour_key = _key("cooldown", asker), _key(f"hour{window}", asker)
    identifier_key = _key(f"hour{window}", ident)
    counters = ((hour_key, per_hour, False), (identifier_key, per_identifier, quiet))
    try:
        script = _redis_script(_SEND_SCRIPT)
        if script is not None:
            state, value = script(keys=[cache.make_key(cooldown_key), cache.make_key(hour_key), cache.make_key(identifier_key)],
                                  args=[repr(now), max(cooldown, 0), per_hour, per_identifier])
            state = int(state)
            if state == 1:
                raise RateLimited(retry_after=int(float(value) - now) + 1)
            if state == 3 and quiet:
                return False
            if state in (2, 3):
                raise RateLimited(retry_after=int((window + 1) * 3600 - now) + 1)
            return True
        allowed = _send_allowed_by_cache_api(now, cooldown, window, cooldown_key, counters)
        if allowed is not None:
            return allowed
    except RateLimited:
        raise
    except Exception as exc:  # noqa: BLE001 - cache outage: the database counts instead, see module docstring
        log.warning("otp send limit counted on the database: cache unavailable (%s)", type(exc).__name__)
    else:
        log.warning("otp send limit counted on the database: cache unavailable")
    return _send_allowed_by_database(now, cooldown, window, cooldown_key, counters)


def _send_allowed_by_database(now: float, cooldown: int, window: int, cooldown_key: str,
                              counters: tuple[tuple[str, int, bool], ...]) -> bool:
    """The Redis script's rules, statement by statement on the database."""
    if cooldown > 0:
        until = limits.deadline_set(key=cooldown_key, now=now, until=now + cooldown)
        if until is not None:
            raise RateLimited(retry_after=int(until - now) + 1)
    for hour_key, cap, quiet in counters:
        count = limits.counter_add(key=hour_key, expires=(window + 1) * 3600)
        if count is not None and count > cap:
            if quiet:
                return False
            raise RateLimited(retry_after=int((window + 1) * 3600 - now) + 1)
    return True


def _send_allowed_by_cache_api(now: float, cooldown: int, window: int, cooldown_key: str,
                               counters: tuple[tuple[str, int, bool], ...]) -> bool | None:
    """The rules through Django's cache API (as ``otp_send_allowed`` answers); None when
    the cache turned out to be down (nothing counted yet: the database counts instead)."""
    added = cache.add(cooldown_key, now + cooldown, timeout=cooldown) if cooldown > 0 else True
    if added is None:
        # django-redis swallowed a connection error (DJANGO_REDIS_IGNORE_EXCEPTIONS) and
        # answers None, not False: the cache is down.
        return None
    if not added:
        until = cache.get(cooldown_key) or (now + cooldown)
        raise RateLimited(retry_after=int(until - now) + 1)
    for hour_key, cap, quiet in counters:
        cache.add(hour_key, 0, timeout=3600)
        try:
            count = cache.incr(hour_key)
        except ValueError:  # evicted between add and incr
            cache.set(hour_key, 1, timeout=3600)
            count = 1
        if count is not None and count > cap:  # None: the cache went away meanwhile
            if quiet:
                return False
            raise RateLimited(retry_after=int((window + 1) * 3600 - now) + 1)
    return True


def requests_in_window(*, scope: str, ident: str, duration: int) -> tuple[int, float]:
    """Count one request in the current fixed window; (count, seconds left). On Redis one
    atomic INCR (one round trip, O(1) memory); on any other cache the same window through
    Django's cache API."""
    now = time.time()
    window = int(now // duration)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    key = f"ip:{scope}:{window}:{digest}"
    script = _redis_script(_WINDOW_SCRIPT)
    if script is not None:
        return int(script(keys=[cache.make_key(key)], args=[duration])), (window + 1) * duration - now
    cache.add(key, 0, timeout=duration + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=duration + 1)
        count = 1
    return count, (window + 1) * duration - now
