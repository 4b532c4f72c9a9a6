"""One contract suite (TOKENIZER.md), run against the in-process Tokenizer directly and
through the HTTP client against a real HTTP server that serves it."""

from __future__ import annotations

import time

import jwt
import pytest

from authenticator.core.errors import InvalidToken
from authenticator.tokenizer.base import Introspection, TokenPair

from .conftest import Implementation, authenticator_settings, issue, new_session_id


def test_issue_returns_a_bearer_pair_for_the_given_session(impl: Implementation):
    session_id = new_session_id()

    pair = issue(impl.tokenizer, subject="1001", session_id=session_id, amr=["otp_sms"], level=3)

    assert isinstance(pair, TokenPair)
    assert pair.token_type == "Bearer"
    assert pair.expires_in == 900
    assert pair.refresh_expires_in == 30 * 24 * 3600
    assert pair.session_id == session_id
    assert pair.access_token and pair.refresh_token and pair.access_token != pair.refresh_token
    assert set(pair.as_dict()) == {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in", "session_id"}
    seen = impl.tokenizer.introspect(token=pair.access_token)
    assert (seen.active, seen.sub, seen.sid, seen.amr, seen.level) == (True, "1001", session_id, ("otp_sms",), 3)
    assert seen.exp - seen.iat == 900
    assert abs(seen.iat - time.time()) < 5


def test_introspect_answers_only_inactive_for_tokens_that_are_not_live_access_tokens(impl: Implementation):
    pair = issue(impl.tokenizer)
    forged = jwt.encode(
        {"iss": "authenticator", "sub": "1001", "sid": pair.session_id, "amr": [], "level": 1,
         "iat": int(time.time()), "exp": int(time.time()) + 600, "jti": "x"},
        "not-our-signing-key-but-long-enough-for-hs256", algorithm="HS256",
    )
    for token in ("garbage", "", "a.b.c", pair.refresh_token, forged, pair.access_token + "x"):
        seen = impl.tokenizer.introspect(token=token)
        assert seen == Introspection(active=False), token
        assert seen.as_dict() == {"active": False}


def test_refresh_rotates_both_tokens_within_the_same_session(impl: Implementation):
    first = issue(impl.tokenizer, subject="1001", level=2)

    second = impl.tokenizer.refresh(refresh_token=first.refresh_token)

    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    seen = impl.tokenizer.introspect(token=second.access_token)
    assert (seen.active, seen.sub, seen.sid, seen.level) == (True, "1001", first.session_id, 2)
    third = impl.tokenizer.refresh(refresh_token=second.refresh_token)
    assert third.session_id == first.session_id


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(impl: Implementation):
    first = issue(impl.tokenizer, subject="1001")
    other_session = issue(impl.tokenizer, subject="1001")
    second = impl.tokenizer.refresh(refresh_token=first.refresh_token)

    with pytest.raises(InvalidToken):
        impl.tokenizer.refresh(refresh_token=first.refresh_token)

    # The thief and the owner are indistinguishable: every token of the session is dead.
    with pytest.raises(InvalidToken):
        impl.tokenizer.refresh(refresh_token=second.refresh_token)
    assert not impl.tokenizer.introspect(token=first.access_token).active
    assert not impl.tokenizer.introspect(token=second.access_token).active
    # Other sessions of the same person are untouched.
    assert impl.tokenizer.introspect(token=other_session.access_token).active
    impl.tokenizer.refresh(refresh_token=other_session.refresh_token)


def test_refresh_with_an_unknown_token_is_invalid(impl: Implementation):
    with pytest.raises(InvalidToken):
        impl.tokenizer.refresh(refresh_token="not-a-refresh-token")


def test_refresh_with_an_expired_refresh_token_is_invalid(impl: Implementation, settings):
    authenticator_settings(settings, TOKENIZER_REFRESH_TTL=1)
    pair = issue(impl.tokenizer)
    time.sleep(1.2)

    with pytest.raises(InvalidToken):
        impl.tokenizer.refresh(refresh_token=pair.refresh_token)


def test_revoking_an_access_token_deactivates_that_token_only(impl: Implementation):
    pair = issue(impl.tokenizer)

    impl.tokenizer.revoke_token(token=pair.access_token, token_type_hint="access_token")

    assert not impl.tokenizer.introspect(token=pair.access_token).active
    renewed = impl.tokenizer.refresh(refresh_token=pair.refresh_token)
    assert impl.tokenizer.introspect(token=renewed.access_token).active


def test_revoking_a_refresh_token_ends_its_session(impl: Implementation):
    pair = issue(impl.tokenizer)

    impl.tokenizer.revoke_token(token=pair.refresh_token, token_type_hint="refresh_token")

    with pytest.raises(InvalidToken):
        impl.tokenizer.refresh(refresh_token=pair.refresh_token)
    assert not impl.tokenizer.introspect(token=pair.access_token).active


def test_revoking_finds_the_token_whatever_the_hint_says(impl: Implementation):
    pair = issue(impl.tokenizer)

    impl.tokenizer.revoke_token(token=pair.refresh_token, token_type_hint="access_token")

    with pytest.raises(InvalidToken):
        impl.tokenizer.refresh(refresh_token=pair.refresh_token)


def test_revoking_unknown_tokens_succeeds_silently(impl: Implementation):
    live = issue(impl.tokenizer)

    impl.tokenizer.revoke_token(token="never-issued")
    impl.tokenizer.revoke_token(token="never-issued", token_type_hint="refresh_token")
    impl.tokenizer.revoke_token(token="a.b.c", token_type_hint="something_else")

    assert impl.tokenizer.introspect(token=live.access_token).active


def test_revoke_sessions_revokes_one_then_all_but_one_then_all(impl: Implementation):
    tk = impl.tokenizer
    a1, a2, a3, a4 = (issue(tk, subject="1001") for _ in range(4))
    other = issue(tk, subject="2002")

    assert tk.revoke_sessions(subject="1001", session_id=a1.session_id) == 1
    assert tk.revoke_sessions(subject="1001", session_id=a1.session_id) == 0  # already revoked
    assert [tk.introspect(token=p.access_token).active for p in (a1, a2, a3, a4)] == [False, True, True, True]

    if impl.name == "local":
        # The contract's "all but one", which the in-process Tokenizer (and so its HTTP
        # face) serves; our client never asks for it, so it has no such argument.
        assert tk.revoke_sessions(subject="1001", except_session_id=a4.session_id) == 2
    else:
        assert sum(tk.revoke_sessions(subject="1001", session_id=p.session_id) for p in (a2, a3)) == 2
    assert [tk.introspect(token=p.access_token).active for p in (a1, a2, a3, a4)] == [False, False, False, True]

    assert tk.revoke_sessions(subject="1001") == 1
    assert not tk.introspect(token=a4.access_token).active
    with pytest.raises(InvalidToken):
        tk.refresh(refresh_token=a4.refresh_token)

    # Someone else's sessions, and a session id that is not the subject's, are untouched.
    assert tk.revoke_sessions(subject="1001", session_id=other.session_id) == 0
    assert tk.introspect(token=other.access_token).active


def test_issue_again_with_the_same_idempotency_key_keeps_one_session(impl: Implementation):
    tk = impl.tokenizer
    session_id = new_session_id()
    first = issue(tk, subject="1001", session_id=session_id, key="login-state-x")

    again = issue(tk, subject="1001", session_id=session_id, key="login-state-x")

    assert again.session_id == first.session_id == session_id
    assert again.refresh_token != first.refresh_token
    # The first answer never reached the caller: its refresh token is withdrawn (without
    # counting as reuse), the second one works.
    with pytest.raises(InvalidToken):
        tk.refresh(refresh_token=first.refresh_token)
    assert tk.introspect(token=tk.refresh(refresh_token=again.refresh_token).access_token).active
    assert tk.revoke_sessions(subject="1001") == 1


def test_issue_refuses_a_session_id_already_used_by_another_request(impl: Implementation):
    session_id = new_session_id()
    first = issue(impl.tokenizer, subject="1001", session_id=session_id, key="k-1")

    with pytest.raises(impl.rejects):
        issue(impl.tokenizer, subject="1001", session_id=session_id, key="k-2")
    with pytest.raises(impl.rejects):
        issue(impl.tokenizer, subject="2002", session_id=session_id, key="k-1")

    assert impl.tokenizer.introspect(token=first.access_token).active


def test_issue_refuses_malformed_values(impl: Implementation):
    with pytest.raises(impl.rejects):
        issue(impl.tokenizer, level="high")
    with pytest.raises(impl.rejects):
        issue(impl.tokenizer, ip="not-an-ip")
    with pytest.raises(impl.rejects):
        issue(impl.tokenizer, subject="")


def test_an_expired_access_token_is_inactive(impl: Implementation, settings):
    authenticator_settings(settings, TOKENIZER_ACCESS_TTL=1)
    pair = issue(impl.tokenizer)
    seen = impl.tokenizer.introspect(token=pair.access_token)
    assert seen.active and seen.exp - seen.iat == 1

    time.sleep(max(0.0, seen.exp - time.time()) + 0.05)

    assert impl.tokenizer.introspect(token=pair.access_token) == Introspection(active=False)


def test_jwks_publishes_no_keys_for_symmetric_signing(impl: Implementation):
    assert impl.tokenizer.jwks() == {"keys": []}
