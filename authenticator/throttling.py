"""Per-identifier limits on sending codes, in the shared cache (Redis).

Applied the same way to known and unknown identifiers, so a limit never tells whether an
account exists. Keys hold a hash of the normalised identifier, never the number or email.
When the cache is down the limit fails open (logged): the wrong-try limit, which is what
stops guessing, lives in PostgreSQL and still holds.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.core.cache import cache

from .conf import app_settings
from .errors import RateLimited

log = logging.getLogger(__name__)


def _key(kind: str, identifier: str) -> str:
    digest = hashlib.sha256(identifier.encode()).hexdigest()[:32]
    return f"otp:{kind}:{digest}"


def otp_send_allowed(*, identifier: str, purpose: str) -> None:
    """Raise RateLimited unless a new code may go to ``identifier`` now; counts this one."""
    now = time.time()
    cooldown = int(app_settings.OTP_RESEND_COOLDOWN)
    per_hour = int(app_settings.OTP_MAX_PER_HOUR)
    ident = f"{purpose}:{identifier}"
    try:
        cooldown_key = _key("cooldown", ident)
        added = cache.add(cooldown_key, now + cooldown, timeout=cooldown)
        if added is None:
            # django-redis swallowed a connection error (DJANGO_REDIS_IGNORE_EXCEPTIONS) and
            # answers None, not False: the cache is down, so fail open, as documented.
            log.warning("otp send limit skipped: cache unavailable")
            return
        if not added:
            until = cache.get(cooldown_key) or (now + cooldown)
            raise RateLimited(retry_after=int(until - now) + 1)
        window = int(now // 3600)
        hour_key = _key(f"hour{window}", ident)
        cache.add(hour_key, 0, timeout=3600)
        try:
            count = cache.incr(hour_key)
        except ValueError:  # evicted between add and incr
            cache.set(hour_key, 1, timeout=3600)
            count = 1
        if count is not None and count > per_hour:  # None: the cache went away meanwhile
            raise RateLimited(retry_after=int((window + 1) * 3600 - now) + 1)
    except RateLimited:
        raise
    except Exception:  # noqa: BLE001 - cache outage: fail open, see module docstring
        log.warning("otp send limit skipped: cache unavailable", exc_info=True)
