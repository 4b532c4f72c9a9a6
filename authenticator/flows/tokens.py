"""Refresh, sign out, and the signed-in user's sessions."""

from __future__ import annotations

from accounts.models import User, UserStatus
from authenticator.core.background import submit_after_response
from authenticator.core.conf import app_settings
from authenticator.core.errors import InvalidToken, NotFound
from sessions_log.models import EndedReason, LoginState, LoginStatus
from sessions_log.services import (
    login_state_of_rotated_token,
    login_state_refresh_tokens_purge,
    login_state_refreshed,
    login_states_close,
    login_states_expire,
    login_states_live,
)

from ..tokenizer import tokenizer
from ..tokenizer.base import TokenPair


def token_refresh(*, refresh_token: str) -> TokenPair:
    """Rotate the refresh token. The session must still be open and its user active.

    A rotated token that comes back means two parties hold the chain: the Tokenizer
    revokes the session and answers 401; we end its login state (``refresh_reused``) and
    revoke it by subject too, which drops its access tokens from every process's cache.
    That is done right after the answer, for every refused token alike: done before it,
    a reused token (an account's) would answer measurably slower than one nobody issued.
    """
    try:
        pair = tokenizer().refresh(refresh_token=refresh_token)
    except InvalidToken:
        if isinstance(refresh_token, str):
            submit_after_response(_end_if_reused, name="refresh reuse", refresh_token=refresh_token)
        raise
    state = login_state_refreshed(session_id=_session_pk(pair.session_id), refresh_token=pair.refresh_token)
    if state is None or state.status != LoginStatus.ACTIVE or state.user_status != UserStatus.ACTIVE:
        if state is not None:
            tokenizer().revoke_sessions(subject=str(state.user_id), session_id=pair.session_id)
        raise InvalidToken()
    return pair


def _end_if_reused(*, refresh_token: str) -> None:
    reused = login_state_of_rotated_token(refresh_token=refresh_token)
    if reused is not None:
        _end(user_id=reused.user_id, reason=EndedReason.REFRESH_REUSED, session_id=reused.session_id)


def _session_pk(session_id: str) -> int:
    try:
        return int(session_id)
    except (TypeError, ValueError):
        raise InvalidToken() from None


def _end(*, user_id: int, reason: EndedReason, session_id: int | None = None) -> int:
    """The one way a session ends: the Tokenizer first (if it is down nothing changes, so
    no login state says ended while its tokens work), by subject, so every process's
    cached introspections of it are dropped at once; then the login state, with why."""
    tokenizer().revoke_sessions(subject=str(user_id), session_id=None if session_id is None else str(session_id))
    return login_states_close(user_id=user_id, reason=reason, session_id=session_id)


def sign_out(*, user: User, session_id: str, everywhere: bool = False) -> int:
    """End this session, or every session of the user; returns how many ended."""
    if everywhere:
        return _end(user_id=user.pk, reason=EndedReason.SIGNED_OUT_EVERYWHERE)
    return _end(user_id=user.pk, reason=EndedReason.SIGNED_OUT, session_id=_session_pk(session_id))


def sessions_list(*, user: User, active_only: bool = True) -> list[LoginState]:
    states = LoginState.objects.filter(user=user)
    if active_only:
        states = login_states_live(states.filter(status=LoginStatus.ACTIVE), refresh_ttl=_refresh_ttl())
    return list(states.order_by("-logged_in_at")[:100])


def _refresh_ttl() -> float:
    """How long a session lives without a refresh: the refresh token's lifetime."""
    return float(app_settings.TOKENIZER_REFRESH_TTL)


def sessions_expire() -> int:
    """Mark the login states that can no longer be refreshed expired (``manage.py purge``),
    revoking each at the Tokenizer first: an access token may outlive its refresh token
    when TOKENIZER_ACCESS_TTL > TOKENIZER_REFRESH_TTL."""
    def revoke(session_id: int, user_id: int) -> None:
        tokenizer().revoke_sessions(subject=str(user_id), session_id=str(session_id))

    expired = login_states_expire(refresh_ttl=_refresh_ttl(), revoke=revoke)
    login_state_refresh_tokens_purge(refresh_ttl=_refresh_ttl())
    return expired


def session_revoke(*, user: User, session_id: str, reason: EndedReason = EndedReason.REVOKED_BY_USER) -> None:
    """Revoke one of the user's sessions (the user, another device; or an operator)."""
    pk = _session_pk_or_404(session_id)
    if not LoginState.objects.filter(pk=pk, user=user, status=LoginStatus.ACTIVE).exists():
        raise NotFound("No such active session.")
    _end(user_id=user.pk, reason=reason, session_id=pk)


def _session_pk_or_404(session_id: str) -> int:
    try:
        return int(session_id)
    except (TypeError, ValueError):
        raise NotFound("No such active session.") from None


def sessions_revoke_all(*, user_id: int, reason: EndedReason) -> int:
    """Sign a user out everywhere (support staff, operators, a status change)."""
    return _end(user_id=user_id, reason=reason)


def tokenizer_purge() -> dict[str, int]:
    """Drop the in-process Tokenizer's dead rows (expired refresh tokens, revoked jtis,
    finished sessions); nothing to do when a remote Tokenizer keeps its own."""
    from ..tokenizer import innermost
    from ..tokenizer.local import LocalTokenizer

    impl = innermost(tokenizer())
    return impl.purge() if isinstance(impl, LocalTokenizer) else {}
