"""Introspection answers cached in Django's cache (Redis), dropped when sessions end.

Every authenticated request introspects its bearer token; most answers repeat. An answer
is kept for at most ``TOKENIZER_INTROSPECTION_CACHE_TTL`` seconds and never beyond the
token's ``exp``, under a key made from the token's SHA-256 (never the token itself).

Revocation must not wait for that TTL. Each subject has a *generation* in the cache — a
random value replaced on every revocation of that subject's sessions or tokens — and
every cached answer carries the generation it was made under. The answer and the
current generation are read together with one ``get_many``; a mismatch (or a missing
generation) is a miss. The generation is read *before* the inner call, so a revocation
that lands while we ask makes the answer we are about to store stale on arrival.

The subject of a token is found before the inner call from the JWT's *unverified*
``sub`` claim: it only chooses which generation to read (the answer itself is keyed by
the token's hash and was verified by the inner Tokenizer), and an answer whose verified
``sub`` differs is not stored. Tokens that are not JWTs are not cached.

By the contract's shape, this wrapper cannot tell whose an opaque refresh token is: a
``revoke_token`` of one, or a reused one that makes the Tokenizer revoke its session,
leaves that session's cached answers here until the TTL. No flow relies on that: every
way a session ends goes through ``revoke_sessions`` with the subject
(``flows.tokens._end``), and refresh-token reuse finds its session from the digests the
Authenticator keeps of the refresh tokens it handed out (sessions_log
``LoginStateRefreshToken``) and ends it that way. The cache must be shared by every
process (Redis): with DEBUG off a per-process cache is refused at start
(``authenticator.E101``).

The cache is an optimisation: if it fails (Redis down), the inner Tokenizer answers and
a warning is logged; no call fails because of the cache.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time

from django.core.cache import cache

from authenticator.core import jsonsafe
from authenticator.core.conf import app_settings

from .base import Introspection, Tokenizer, TokenPair

log = logging.getLogger(__name__)

PREFIX = "tokenizer"
# A generation outlives every answer made under it, so an expired generation can only
# mean "no answer of this subject is still cached".
GENERATION_TTL = 24 * 3600


def answer_key(token: str) -> str:
    return f"{PREFIX}:introspect:{hashlib.sha256(token.encode()).hexdigest()}"


def generation_key(subject: str) -> str:
    return f"{PREFIX}:gen:{hashlib.sha256(subject.encode()).hexdigest()}"


class CachedIntrospection:
    """A Tokenizer that caches ``introspect`` of ``inner`` and forwards everything else."""

    def __init__(self, inner: Tokenizer) -> None:
        self.inner = inner

    # -- forwarded ---------------------------------------------------------------------

    def issue(
        self,
        *,
        subject: str,
        session_id: str,
        amr: list[str],
        level: int,
        ip: str | None,
        user_agent: str,
        idempotency_key: str,
    ) -> TokenPair:
        return self.inner.issue(
            subject=subject, session_id=session_id, amr=amr, level=level, ip=ip, user_agent=user_agent, idempotency_key=idempotency_key
        )

    def refresh(self, *, refresh_token: str) -> TokenPair:
        return self.inner.refresh(refresh_token=refresh_token)

    def jwks(self) -> dict:
        return self.inner.jwks()

    # -- revocation drops cached answers -------------------------------------------------

    def revoke_token(self, *, token: str, token_type_hint: str | None = None) -> None:
        self.inner.revoke_token(token=token, token_type_hint=token_type_hint)
        subject = unverified_subject(token)
        try:
            cache.delete(answer_key(token))
            if subject is not None:
                self._bump(subject)
        except Exception:
            log.warning("introspection cache unavailable: a revoked token may stay cached for up to %ss",
                        app_settings.TOKENIZER_INTROSPECTION_CACHE_TTL, exc_info=True)

    def revoke_sessions(self, *, subject: str, session_id: str | None = None) -> int:
        revoked = self.inner.revoke_sessions(subject=subject, session_id=session_id)
        try:
            self._bump(subject)
        except Exception:
            log.warning("introspection cache unavailable: revoked sessions may stay cached for up to %ss",
                        app_settings.TOKENIZER_INTROSPECTION_CACHE_TTL, exc_info=True)
        return revoked

    @staticmethod
    def _bump(subject: str) -> None:
        cache.set(generation_key(subject), secrets.token_hex(8), GENERATION_TTL)

    # -- introspect ----------------------------------------------------------------------

    def introspect(self, *, token: str) -> Introspection:
        subject = unverified_subject(token) if isinstance(token, str) else None
        if subject is None:
            return self.inner.introspect(token=token)
        key, gen_key = answer_key(token), generation_key(subject)
        try:
            found = cache.get_many([key, gen_key])
            generation = found.get(gen_key)
            cached = found.get(key)
            if generation is not None and isinstance(cached, dict) and cached.get("gen") == generation:
                return Introspection.from_dict(cached["answer"])
            if generation is None:
                # Create it before asking, so a revocation while we ask replaces it.
                cache.add(gen_key, secrets.token_hex(8), GENERATION_TTL)
                generation = cache.get(gen_key)
        except Exception:
            log.warning("introspection cache unavailable; asking the Tokenizer", exc_info=True)
            return self.inner.introspect(token=token)

        answer = self.inner.introspect(token=token)
        ttl = self._ttl(answer)
        if generation is None or ttl <= 0 or answer.sub != subject:
            return answer
        try:
            cache.set(key, {"gen": generation, "answer": answer.as_dict()}, ttl)
        except Exception:
            log.warning("introspection cache unavailable; answer not cached", exc_info=True)
        return answer

    @staticmethod
    def _ttl(answer: Introspection) -> int:
        # Inactive answers have no remaining life to cache them for (and a Tokenizer
        # reading from a lagging replica must not lock a fresh token out for a minute).
        if not answer.active:
            return 0
        # Rounded down, so the entry never outlives the token's exp.
        return min(int(app_settings.TOKENIZER_INTROSPECTION_CACHE_TTL), int((answer.exp or 0) - time.time()))


def unverified_subject(token: str) -> str | None:
    """The ``sub`` claim of a JWT-shaped token, signature NOT checked (see module doc)."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 4096:
        return None
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = jsonsafe.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, TypeError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) and sub else None
