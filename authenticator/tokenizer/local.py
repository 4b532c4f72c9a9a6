"""The in-process Tokenizer: the contract's embedded default, and what the server serves.

- Access tokens are JWTs signed with HS256 (``TOKENIZER_SIGNING_KEY``) carrying ``iss,
  sub, sid, amr, level, iat, exp, jti``; they live ``TOKENIZER_ACCESS_TTL`` seconds.
- Refresh tokens are opaque (``secrets.token_urlsafe(32)``), stored only as SHA-256, and
  rotate: each one is good for one refresh, claimed with an atomic
  ``UPDATE ... SET used_at = now WHERE token_hash = ... AND used_at IS NULL``. Presenting
  a rotated one again means two parties hold the chain, so the whole session is revoked.
- Revocation lives in the database: ``revoked_at`` on the session (all its tokens), or
  the ``jti`` of one access token until its ``exp``.

Every method is safe inside an outer transaction: writes that may conflict run in a
savepoint, so a conflict never poisons the caller's transaction. The one thing an outer
transaction can undo is ours too: if a caller wraps ``refresh`` in an atomic block and
rolls it back on ``InvalidToken``, the session revocation that a reused refresh token
triggers is rolled back with it — call ``refresh`` outside transactions (the flows do).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from authenticator.core.conf import app_settings
from authenticator.core.errors import InvalidInput, InvalidToken, TokenizerUnavailable

from .base import ACCESS_TOKEN, INACTIVE, REFRESH_TOKEN, Introspection, TokenPair
from .models import (
    TokenizerRefreshToken,
    TokenizerRevokedAccessToken,
    TokenizerSession,
)

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["iss", "sub", "sid", "amr", "level", "iat", "exp", "jti"]
# Nothing we mint comes near this; longer input is not worth parsing or hashing.
MAX_TOKEN_LENGTH = 4096


def _session_insert_if_absent(session: TokenizerSession) -> bool:
    """INSERT the session unless its id exists already (a replayed ``issue``); True if
    written. Raw SQL for atomicity without a savepoint: a sign-in calls ``issue`` inside
    its own transaction, where a duplicate key's error would poison it, and a savepoint
    around ``create()`` costs every sign-in two statements; ``bulk_create(ignore_conflicts=True)``
    cannot tell whether it wrote. Names and values come from the model's fields."""
    meta, qn = TokenizerSession._meta, connection.ops.quote_name
    fields = meta.concrete_fields
    sql = (f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # nosec B608 - names from _meta
           f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT DO NOTHING")
    with connection.cursor() as cursor:
        cursor.execute(sql, [f.get_db_prep_save(getattr(session, f.attname), connection) for f in fields])
        inserted = cursor.rowcount == 1
    return inserted


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LocalTokenizer:
    """The Tokenizer contract over this service's own database. Settings are read per call."""

    # -- issue -------------------------------------------------------------------------

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
        """Open session ``session_id`` for ``subject`` and return its first token pair.

        Two INSERTs (session, refresh token) on the normal path; nothing is read first.

        Idempotency: calling again with the same ``session_id`` and ``idempotency_key``
        (a retry after a lost answer) does not open a second session. It returns a *fresh*
        pair for the same session and deletes the refresh tokens issued before for it —
        the caller never received them, so nobody may hold them. The earlier access token
        is not recorded anywhere and simply expires. The same ``session_id`` with another
        key or subject, or a session already revoked, is refused with ``InvalidInput``
        (HTTP 400 ``invalid_request``).
        """
        _check_issue_input(
            subject=subject, session_id=session_id, amr=amr, level=level, ip=ip, user_agent=user_agent, idempotency_key=idempotency_key
        )
        key = _signing_key()
        now = timezone.now()
        refresh_token = secrets.token_urlsafe(32)
        session = TokenizerSession(
            id=session_id,
            subject=subject,
            amr=list(amr),
            level=level,
            ip=ip or None,
            user_agent=(user_agent or "")[:512],
            idempotency_key=idempotency_key,
            created_at=now,
        )
        with transaction.atomic(savepoint=False):
            inserted = _session_insert_if_absent(session)
            if inserted:
                self._new_refresh_token(session_id=session.pk, refresh_token=refresh_token, now=now)
        if not inserted:
            session = self._replayed_session(subject=subject, session_id=session_id, idempotency_key=idempotency_key)
            with transaction.atomic(savepoint=False):
                TokenizerRefreshToken.objects.filter(session_id=session.pk).delete()
                self._new_refresh_token(session_id=session.pk, refresh_token=refresh_token, now=now)
        return self._pair(session=session, refresh_token=refresh_token, key=key)

    @staticmethod
    def _new_refresh_token(*, session_id: str, refresh_token: str, now: datetime) -> None:
        TokenizerRefreshToken.objects.create(
            token_hash=token_hash(refresh_token),
            session_id=session_id,
            created_at=now,
            expires_at=now + timedelta(seconds=_refresh_ttl()),
        )

    @staticmethod
    def _replayed_session(*, subject: str, session_id: str, idempotency_key: str) -> TokenizerSession:
        session = TokenizerSession.objects.filter(pk=session_id).first()
        if session is None or session.subject != subject or session.idempotency_key != idempotency_key:
            raise InvalidInput("This session_id already has tokens from another request.")
        if session.revoked_at is not None:
            raise InvalidInput("This session has been revoked.")
        return session

    # -- refresh -----------------------------------------------------------------------

    def refresh(self, *, refresh_token: str) -> TokenPair:
        if not isinstance(refresh_token, str) or not refresh_token or len(refresh_token) > MAX_TOKEN_LENGTH:
            raise InvalidToken()
        key = _signing_key()
        digest = token_hash(refresh_token)
        now = timezone.now()
        with transaction.atomic():
            claimed = TokenizerRefreshToken.objects.filter(token_hash=digest, used_at__isnull=True).update(used_at=now)
            row = TokenizerRefreshToken.objects.select_related("session").filter(token_hash=digest).first()
            if row is None:
                raise InvalidToken()
            if claimed:
                if row.expires_at <= now or row.session.revoked_at is not None:
                    raise InvalidToken()
                new_token = secrets.token_urlsafe(32)
                self._new_refresh_token(session_id=row.session_id, refresh_token=new_token, now=now)
                return self._pair(session=row.session, refresh_token=new_token, key=key)
        # A rotated token came back: someone else holds the chain. Revoked outside the
        # block above so that raising does not roll the revocation back.
        revoked = TokenizerSession.objects.filter(pk=row.session_id, revoked_at__isnull=True).update(revoked_at=now)
        if revoked:
            log.warning("refresh token reuse: revoked session %s of subject %s", row.session_id, row.session.subject)
        raise InvalidToken()

    # -- revoke ------------------------------------------------------------------------

    def revoke_token(self, *, token: str, token_type_hint: str | None = None) -> None:
        """RFC 7009: unknown, expired and malformed tokens are "revoked" silently.

        An access token is revoked alone (its ``jti`` is kept until its ``exp``). A refresh
        token revokes its whole session — RFC 7009 §2.1: revoking a refresh token SHOULD
        also invalidate the access tokens of the same grant.
        """
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return
        order = (REFRESH_TOKEN, ACCESS_TOKEN) if token_type_hint == REFRESH_TOKEN else (ACCESS_TOKEN, REFRESH_TOKEN)
        for kind in order:
            if kind == ACCESS_TOKEN:
                claims = _decode(token)
                if claims is not None:
                    TokenizerRevokedAccessToken.objects.bulk_create(
                        [TokenizerRevokedAccessToken(jti=claims["jti"], expires_at=_from_timestamp(claims["exp"]))],
                        ignore_conflicts=True,
                    )
                    return
            else:
                session_id = TokenizerRefreshToken.objects.filter(token_hash=token_hash(token)).values_list("session_id", flat=True).first()
                if session_id is not None:
                    TokenizerSession.objects.filter(pk=session_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
                    return

    def revoke_sessions(self, *, subject: str, session_id: str | None = None, except_session_id: str | None = None) -> int:
        """Revoke one session, all but one, or all of ``subject``'s; answer how many were live."""
        sessions = TokenizerSession.objects.filter(subject=subject, revoked_at__isnull=True)
        if session_id is not None:
            sessions = sessions.filter(pk=session_id)
        if except_session_id is not None:
            sessions = sessions.exclude(pk=except_session_id)
        return sessions.update(revoked_at=timezone.now())

    # -- introspect --------------------------------------------------------------------

    def introspect(self, *, token: str) -> Introspection:
        """Active only for a well-signed, unexpired access token of a live session whose
        ``jti`` is not revoked. Refresh tokens answer inactive: they are not bearer
        credentials and must not authenticate a request."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return INACTIVE
        claims = _decode(token)
        if claims is None:
            return INACTIVE
        # One query: the session is live (None otherwise) and whether this jti is revoked.
        jti_revoked = (
            TokenizerSession.objects.filter(pk=claims["sid"], subject=claims["sub"], revoked_at__isnull=True)
            .annotate(jti_revoked=Exists(TokenizerRevokedAccessToken.objects.filter(jti=claims["jti"])))
            .values_list("jti_revoked", flat=True)
            .first()
        )
        if jti_revoked is None or jti_revoked:
            return INACTIVE
        return Introspection(
            active=True,
            sub=claims["sub"],
            sid=claims["sid"],
            exp=claims["exp"],
            iat=claims["iat"],
            amr=tuple(claims["amr"]),
            level=claims["level"],
        )

    def jwks(self) -> dict:
        # HS256 is symmetric: there is no public key to publish.
        return {"keys": []}

    # -- maintenance -------------------------------------------------------------------

    def purge(self, *, now: datetime | None = None) -> dict[str, int]:
        """Delete what can no longer matter: expired refresh tokens and revoked jtis, and
        sessions no token of which can still be active. Answers counts per table."""
        now = now or timezone.now()
        access_ttl = timedelta(seconds=int(app_settings.TOKENIZER_ACCESS_TTL))
        refresh_tokens, _ = TokenizerRefreshToken.objects.filter(expires_at__lte=now).delete()
        jtis, _ = TokenizerRevokedAccessToken.objects.filter(expires_at__lte=now).delete()
        # A revoked session's access tokens are dead once ACCESS_TTL passed; a session
        # without refresh tokens minted its last access token when its last (now
        # expired) refresh token was created, longer ago than any access token lives.
        dead = TokenizerSession.objects.filter(
            Q(revoked_at__lte=now - access_ttl)
            | Q(~Exists(TokenizerRefreshToken.objects.filter(session_id=OuterRef("pk"))), created_at__lte=now - access_ttl)
        )
        _, deleted = dead.delete()  # cascades to their (used) refresh tokens
        sessions = deleted.get(TokenizerSession._meta.label, 0)
        return {"refresh_tokens": refresh_tokens, "revoked_access_tokens": jtis, "sessions": sessions}

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _pair(*, session: TokenizerSession, refresh_token: str, key: str) -> TokenPair:
        access_ttl = int(app_settings.TOKENIZER_ACCESS_TTL)
        issued_at = int(time.time())
        claims = {
            "iss": app_settings.TOKENIZER_ISSUER,
            "sub": session.subject,
            "sid": session.pk,
            "amr": list(session.amr),
            "level": session.level,
            "iat": issued_at,
            "exp": issued_at + access_ttl,
            "jti": secrets.token_urlsafe(16),
        }
        access_token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"typ": "at+jwt"})
        return TokenPair(
            access_token=access_token,
            token_type="Bearer",  # nosec B106
            expires_in=access_ttl,
            refresh_token=refresh_token,
            refresh_expires_in=_refresh_ttl(),
            session_id=session.pk,
        )


def _signing_key() -> str:
    key = app_settings.TOKENIZER_SIGNING_KEY
    if not key or not isinstance(key, str):
        log.error("TOKENIZER_SIGNING_KEY and SECRET_KEY are empty: the in-process Tokenizer cannot sign")
        raise TokenizerUnavailable()
    return key


def _refresh_ttl() -> int:
    return int(app_settings.TOKENIZER_REFRESH_TTL)


def _decode(token: str) -> dict[str, Any] | None:
    """The verified claims of one of our access tokens, or None (bad, expired, foreign)."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[ALGORITHM],
            issuer=app_settings.TOKENIZER_ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError:
        return None
    amr, level = claims.get("amr"), claims.get("level")
    valid = (
        isinstance(claims.get("sub"), str)
        and isinstance(claims.get("sid"), str)
        and isinstance(claims.get("jti"), str)
        and isinstance(claims.get("iat"), int)
        and isinstance(amr, list)
        and all(isinstance(m, str) for m in amr)
        and isinstance(level, int)
        and not isinstance(level, bool)
    )
    return claims if valid else None


def _from_timestamp(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def _check_issue_input(*, subject: Any, session_id: Any, amr: Any, level: Any, ip: Any, user_agent: Any, idempotency_key: Any) -> None:
    errors: dict[str, str] = {}
    if not isinstance(subject, str) or not subject or len(subject) > 64:
        errors["subject"] = "a non-empty string of at most 64 characters"
    if not isinstance(session_id, str) or not session_id or len(session_id) > 64:
        errors["session_id"] = "a non-empty string of at most 64 characters"
    if not isinstance(amr, (list, tuple)) or not all(isinstance(m, str) and 0 < len(m) <= 32 for m in amr) or len(amr) > 8:
        errors["amr"] = "a list of at most 8 method names"
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < 2**31:
        errors["level"] = "a non-negative integer"
    if ip is not None and ip != "":
        try:
            if not isinstance(ip, str):
                raise TypeError(ip)
            ipaddress.ip_address(ip)
        except (TypeError, ValueError):
            errors["ip"] = "an IPv4 or IPv6 address"
    if user_agent is not None and not isinstance(user_agent, str):
        errors["user_agent"] = "a string"
    if not isinstance(idempotency_key, str) or not idempotency_key or len(idempotency_key) > 255:
        errors["idempotency_key"] = "a non-empty string of at most 255 characters"
    if errors:
        raise InvalidInput(
            "The token request is invalid.",
            extra={"errors": {field: [{"code": "invalid", "message": message}] for field, message in errors.items()}},
        )
