"""SMS budgets against pumping (toll fraud): what may be texted, per country, per hour.

Three budgets, each a setting, each deciding at request time for every number alike —
known, unknown, blocked. Every number asked for joins its prefix's distinct numbers; every
request that texts someone spends the hourly budgets (each sign-up texts: a code or a
notice); a sign-in code request for a number with no active account texts nobody, so it
is decided alike but spends no hourly budget (``count=False``): spent, a few hundred
such requests shut a whole country out while sending nothing.

- per destination country and hour (``SMS_BUDGET_PER_COUNTRY_HOUR``, with
  ``SMS_BUDGET_COUNTRY_OVERRIDES`` such as ``GB:500,NG:20``);
- all countries together per hour (``SMS_BUDGET_GLOBAL_HOUR``);
- per prefix range (the first ``SMS_PREFIX_DIGITS`` digits of the E.164 number): more
  than ``SMS_PREFIX_MAX_NUMBERS`` distinct numbers in ``SMS_PREFIX_WINDOW`` seconds trips
  the range for the rest of that window — pumping walks a range of premium numbers.

A request the budgets allow is counted against the country and global hour; one past a
budget is not (so an attack can't spend a budget by being refused), and gets
``SmsBudgetExceeded`` (429 with Retry-After) — or, with a challenge configured, it needs
a solved challenge (``challenged=True``), which lets it through and counts it. Risk
signals for the challenge's ``at_risk`` mode come back with the decision: a budget at
``CHALLENGE_RISK_FRACTION`` of its limit, or more than ``CHALLENGE_IP_MAX_NUMBERS``
distinct numbers asked from one address in the prefix window.

Counted in Redis by one Lua script (one round trip, atomic); when Redis is unreachable
the same rules run on the database (``limits``: upsert-increments in one transaction), so
losing Redis never lifts a budget. The hour's counts of the two stores are not merged
when Redis comes back: an outage can let through at most one more hour's budget, once.

A budget that trips is counted (``authn_sms_budget_trips_total``), logged at WARNING
and written down (``SmsBudgetTrip``, once per budget and window) for the admin's
SMS page, which also charts the spend per country (``sms_spend``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.db import DatabaseError

from . import limits, metrics
from .conf import app_settings
from .limit_models import LimitCounter, SmsBudgetTrip
from .throttling import _redis_script

log = logging.getLogger(__name__)

UNLIMITED = 2**31
HOUR_KEPT = 2 * 24 * 3600  # the hour counters outlive their hour, for the admin's chart

# KEYS: country hour counter, global hour counter, prefix window set, address window set,
#       the hour's set of countries.
# ARGV: country limit, global limit, prefix max numbers, member, hour ttl, window ttl,
#       challenged (1/0), country risk at, global risk at, address max numbers, country,
#       count (1: count it; 0: decide and note its number, but spend nothing).
# Returns {state, budget, country count, global count, distinct numbers of the prefix}:
# state 0 counted, 1 over a budget (not counted), 2 at risk (not counted: needs a challenge).
_BUDGET_SCRIPT = """
local function add(key, member, ttl)
  if redis.call('SADD', key, member) == 1 and redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, ttl)
  end
  return redis.call('SCARD', key)
end
local distinct = add(KEYS[3], ARGV[4], ARGV[6])
local by_address = add(KEYS[4], ARGV[4], ARGV[6])
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local g = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[7] ~= '1' then
  if c >= tonumber(ARGV[1]) then return {1, 'country', c, g, distinct} end
  if g >= tonumber(ARGV[2]) then return {1, 'global', c, g, distinct} end
  if distinct > tonumber(ARGV[3]) then return {1, 'prefix', c, g, distinct} end
  if c + 1 >= tonumber(ARGV[8]) then return {2, 'country', c, g, distinct} end
  if g + 1 >= tonumber(ARGV[9]) then return {2, 'global', c, g, distinct} end
  if by_address > tonumber(ARGV[10]) then return {2, 'address', c, g, distinct} end
end
if ARGV[12] ~= '1' then return {0, '', c, g, distinct} end
c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[5]) end
g = redis.call('INCR', KEYS[2])
if g == 1 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
if redis.call('SADD', KEYS[5], ARGV[11]) == 1 then redis.call('EXPIRE', KEYS[5], ARGV[5]) end
return {0, '', c, g, distinct}
"""


@dataclass(frozen=True)
class Decision:
    """``state``: ``counted`` (the SMS may go), ``over`` (past ``budget``: refuse, or
    challenge), ``at_risk`` (within the budgets, but ``budget`` says a challenge is due)."""

    state: str
    budget: str = ""
    retry_after: int = 1


def country_overrides() -> dict[str, int]:
    """``SMS_BUDGET_COUNTRY_OVERRIDES`` as ``{ISO: per hour}`` (a dict, or ``GB:500,NG:20``)."""
    raw = app_settings.SMS_BUDGET_COUNTRY_OVERRIDES
    if isinstance(raw, dict):
        return {str(k).upper(): int(v) for k, v in raw.items()}
    out: dict[str, int] = {}
    for item in str(raw or "").split(","):
        if item.strip():
            country, _, number = item.partition(":")
            out[country.strip().upper()] = int(number)
    return out


def country_limit(country: str) -> int:
    """SMS a country may be sent per hour (``UNLIMITED`` for 0)."""
    limit = country_overrides().get(country, int(app_settings.SMS_BUDGET_PER_COUNTRY_HOUR))
    return int(limit) if int(limit) > 0 else UNLIMITED


def global_limit() -> int:
    limit = int(app_settings.SMS_BUDGET_GLOBAL_HOUR)
    return limit if limit > 0 else UNLIMITED


def prefix_of(phone: str) -> str:
    return phone.lstrip("+")[: int(app_settings.SMS_PREFIX_DIGITS)]


def sms_budget_take(*, phone: str, country: str, ip: str | None, challenged: bool = False,
                    at_risk_challenge: bool = False, count: bool = True) -> Decision:
    """Count one SMS to ``phone`` (E.164, of ``country``) asked from ``ip``, if the budgets
    allow it; the decision. ``challenged``: the request solved a challenge (past a
    budget it is let through, and counted). ``at_risk_challenge``: report risk signals
    as ``at_risk`` (nothing counted) instead of counting. ``count=False``: decide alike
    and join the prefix's (and address's) numbers alike, but spend no hourly budget — a
    request that will text nobody (a sign-in code request for a number with no active
    account) spending one let a few hundred of them shut a whole country out (an outside
    review did, sending no SMS at all). Its number joins the sets all the same: left
    out, the next request of the range told whether it had been an active account's
    (a third review did, with 11 requests)."""
    now = time.time()
    hour = int(now // 3600)
    span = max(int(app_settings.SMS_PREFIX_WINDOW), 1)
    window = int(now // span)
    climit, glimit = country_limit(country), global_limit()
    pmax = int(app_settings.SMS_PREFIX_MAX_NUMBERS) or UNLIMITED
    fraction = float(app_settings.CHALLENGE_RISK_FRACTION)
    c_risk = max(1, int(climit * fraction)) if at_risk_challenge and climit < UNLIMITED else UNLIMITED
    g_risk = max(1, int(glimit * fraction)) if at_risk_challenge and glimit < UNLIMITED else UNLIMITED
    amax = int(app_settings.CHALLENGE_IP_MAX_NUMBERS) if at_risk_challenge and ip and int(app_settings.CHALLENGE_IP_MAX_NUMBERS) > 0 else UNLIMITED
    prefix = prefix_of(phone)
    member = limits.digest(phone)
    keys = [f"sms:country:{hour}:{country}", f"sms:global:{hour}", f"sms:prefix:{window}:{prefix}",
            f"sms:address:{window}:{limits.digest(ip or '-')}", f"sms:countries:{hour}"]
    try:
        script = _redis_script(_BUDGET_SCRIPT)
        if script is None:
            raise LookupError("not Redis")  # the embedded default's local memory: the database counts
        state, budget, *_counts = script(
            keys=[cache.make_key(k) for k in keys],
            args=[climit, glimit, pmax, member, HOUR_KEPT, span, int(challenged), c_risk, g_risk, amax, country,
                  int(count)])
        state, budget = int(state), budget.decode() if isinstance(budget, bytes) else str(budget)
    except LookupError:
        state, budget = _take_on_database(keys, member, now, hour, window, span, challenged,
                                          climit, glimit, pmax, c_risk, g_risk, amax, count)
    except Exception as exc:  # noqa: BLE001 - Redis unreachable: the database holds the budgets
        log.warning("sms budget counted on the database: cache unavailable (%s)", type(exc).__name__)
        state, budget = _take_on_database(keys, member, now, hour, window, span, challenged,
                                          climit, glimit, pmax, c_risk, g_risk, amax, count)
    if state == 0:
        # Every request the budgets let through, counted or not: a metric of real texts only
        # would tell known numbers from unknown ones (tests/ops/test_metrics.py).
        metrics.sms_budgeted(country=country, challenged=challenged)
        return Decision("counted")
    if state == 2:
        return Decision("at_risk", budget)
    if budget == "prefix":
        retry, start, limit, scope = (window + 1) * span - now, window * span, pmax, prefix
    else:
        retry, start = (hour + 1) * 3600 - now, hour * 3600
        limit, scope = (climit, country) if budget == "country" else (glimit, "*")
    _tripped(budget=budget, scope=scope, country=country, start=start, limit=limit)
    return Decision("over", budget, retry_after=int(retry) + 1)


def _take_on_database(keys, member, now, hour, window, span, challenged, climit, glimit, pmax, c_risk, g_risk, amax,
                      count=True):
    ckey, gkey, pkey, akey, _countries = keys
    window_end = (window + 1) * span
    distinct = limits.set_add(key=pkey, member=member, expires=window_end)
    by_address = limits.set_add(key=akey, member=member, expires=window_end) if amax < UNLIMITED else 0
    if not challenged:
        c, g = limits.counter_get(key=ckey), limits.counter_get(key=gkey)
        for over, budget in ((c >= climit, "country"), (g >= glimit, "global"), (distinct > pmax, "prefix")):
            if over:
                return 1, budget
        for risky, budget in ((c + 1 >= c_risk, "country"), (g + 1 >= g_risk, "global"), (by_address > amax, "address")):
            if risky:
                return 2, budget
    if not count:
        return 0, ""
    caps = [(ckey, None if challenged else climit), (gkey, None if challenged else glimit)]
    if limits.counters_take(keys=caps, expires=hour * 3600 + HOUR_KEPT):
        return 0, ""
    # Another request took the last of a budget between the read and the take.
    return 1, "country" if limits.counter_get(key=ckey) >= climit else "global"


_trips_seen: set[tuple[str, str, float]] = set()


def _tripped(*, budget: str, scope: str, country: str, start: float, limit: int) -> None:
    """Count a refusal; the first in this process of each budget and window is also logged,
    counted as a trip and written down for the admin."""
    metrics.sms_budget_refused(budget=budget, country=country)
    mark = (budget, scope, start)
    if mark in _trips_seen:
        return
    if len(_trips_seen) > 10_000:
        _trips_seen.clear()
    _trips_seen.add(mark)
    metrics.sms_budget_tripped(budget=budget, country=country)
    log.warning("sms budget tripped: %s %s reached %s in the window from %s", budget, scope, limit,
                dt.datetime.fromtimestamp(start, tz=dt.timezone.utc).isoformat())
    try:
        SmsBudgetTrip.objects.bulk_create(
            [SmsBudgetTrip(budget=budget, scope=scope, limit=min(limit, UNLIMITED - 1),
                           window_start=dt.datetime.fromtimestamp(start, tz=dt.timezone.utc),
                           tripped_at=dt.datetime.now(tz=dt.timezone.utc))],
            ignore_conflicts=True)
    except DatabaseError:  # the refusal stands; only the admin's record of it is missing
        log.warning("sms budget trip not recorded: database unavailable", exc_info=True)


def sms_spend(*, hours: int = 24, now: float | None = None) -> tuple[list[int], dict[str, list[int]]]:
    """SMS the budgets counted per country for each of the last ``hours`` hours (oldest
    first): (hour numbers, {country: counts}); Redis and the database's fallback counts
    added up."""
    now = time.time() if now is None else now
    current = int(now // 3600)
    hour_list = list(range(current - hours + 1, current + 1))
    spend: dict[str, list[int]] = {}

    def add(country: str, index: int, count: int) -> None:
        spend.setdefault(country, [0] * hours)[index] += count

    try:
        client = getattr(getattr(cache, "client", None), "get_client", None)
        if client is not None:
            redis = client(write=False)
            pipe = redis.pipeline()
            for hour in hour_list:
                pipe.smembers(cache.make_key(f"sms:countries:{hour}"))
            members = pipe.execute()
            pairs = [(i, m.decode() if isinstance(m, bytes) else m) for i, ms in enumerate(members) for m in ms]
            values = redis.mget([cache.make_key(f"sms:country:{hour_list[i]}:{c}") for i, c in pairs]) if pairs else []
            for (i, country), value in zip(pairs, values):
                add(country, i, int(value or 0))
    except Exception as exc:  # noqa: BLE001 - the page shows what the database has
        log.warning("sms spend: cache unavailable (%s)", type(exc).__name__)
    rows = LimitCounter.objects.filter(key__startswith="sms:country:").values_list("key", "count")
    for key, count in rows:
        _, _, hour, country = key.split(":")
        if int(hour) in hour_list:
            add(country, hour_list.index(int(hour)), count)
    return hour_list, spend
