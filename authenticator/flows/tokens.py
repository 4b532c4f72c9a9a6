"""Refresh, sign out, and the signed-in user's sessions."""

from __future__ import annotations

from accounts.models import User, UserStatus
from sessions_log.models import LoginState, LoginStatus
from sessions_log.services import login_state_refreshed, login_states_close, login_states_expire, login_states_live

from ..conf import app_settings
from ..errors import InvalidToken, NotFound
from ..tokenizer import tokenizer
from ..tokenizer.base import TokenPair


def token_refresh(*, refresh_token: str) -> TokenPair:
    """Rotate the refresh token. The session must still be open and its user active."""
    pair = tokenizer().refresh(refresh_token=refresh_token)
    state = login_state_refreshed(session_id=_session_pk(pair.session_id))
    if state is None or state.status != LoginStatus.ACTIVE or state.user_status != UserStatus.ACTIVE:
        if state is not None:
            tokenizer().revoke_sessions(subject=str(state.user_id), session_id=pair.session_id)
        raise InvalidToken()
    return pair


def _session_pk(session_id: str) -> int:
    try:
        return int(session_id)
    except (TypeError, ValueError):
        raise InvalidToken() from None


def sign_out(*, user: User, session_id: str, everywhere: bool = False) -> int:
    """End this session, or every session of the user; returns how many ended."""
    if everywhere:
        tokenizer().revoke_sessions(subject=str(user.pk))
        return login_states_close(user_id=user.pk, status=LoginStatus.LOGGED_OUT)
    tokenizer().revoke_sessions(subject=str(user.pk), session_id=session_id)
    return login_states_close(user_id=user.pk, status=LoginStatus.LOGGED_OUT, session_id=_session_pk(session_id))


def sessions_list(*, user: User, active_only: bool = True) -> list[LoginState]:
    states = LoginState.objects.filter(user=user)
    if active_only:
        states = login_states_live(states.filter(status=LoginStatus.ACTIVE), refresh_ttl=_refresh_ttl())
    return list(states.order_by("-logged_in_at")[:100])


def _refresh_ttl() -> float:
    """How long a session lives without a refresh: the refresh token's lifetime."""
    return float(app_settings.TOKENIZER_REFRESH_TTL)


def sessions_expire() -> int:
    """Mark the login states that can no longer be refreshed expired (``manage.py purge``)."""
    return login_states_expire(refresh_ttl=_refresh_ttl())


def session_revoke(*, user: User, session_id: str) -> None:
    """Revoke one of the user's own sessions (another device)."""
    pk = _session_pk_or_404(session_id)
    if not LoginState.objects.filter(pk=pk, user=user, status=LoginStatus.ACTIVE).exists():
        raise NotFound("No such active session.")
    tokenizer().revoke_sessions(subject=str(user.pk), session_id=str(pk))
    login_states_close(user_id=user.pk, status=LoginStatus.REVOKED, session_id=pk)


def _session_pk_or_404(session_id: str) -> int:
    try:
        return int(session_id)
    except (TypeError, ValueError):
        raise NotFound("No such active session.") from None


def sessions_revoke_all(*, user_id: int, status: str = LoginStatus.REVOKED) -> int:
    """Sign a user out everywhere (support staff, operators, blocking)."""
    tokenizer().revoke_sessions(subject=str(user_id))
    return login_states_close(user_id=user_id, status=status)


def tokenizer_purge() -> dict[str, int]:
    """Drop the in-process Tokenizer's dead rows (expired refresh tokens, revoked jtis,
    finished sessions); nothing to do when a remote Tokenizer keeps its own."""
    from ..tokenizer import innermost
    from ..tokenizer.local import LocalTokenizer

    impl = innermost(tokenizer())
    return impl.purge() if isinstance(impl, LocalTokenizer) else {}
