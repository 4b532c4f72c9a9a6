"""What only the in-process Tokenizer promises: storage, cost, transactions, races."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

import jwt
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from authenticator.core.conf import app_settings
from authenticator.core.errors import InvalidInput, InvalidToken, TokenizerUnavailable
from authenticator.tokenizer.local import LocalTokenizer
from authenticator.tokenizer.models import (
    TokenizerRefreshToken,
    TokenizerRevokedAccessToken,
    TokenizerSession,
)

from .conftest import authenticator_settings, issue, new_session_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def tk() -> LocalTokenizer:
    return LocalTokenizer()


def test_access_token_is_an_hs256_jwt_with_the_contract_claims(tk, settings):
    pair = issue(tk, subject="1001", amr=["otp_email"], level=2)

    header = jwt.get_unverified_header(pair.access_token)
    claims = jwt.decode(pair.access_token, app_settings.TOKENIZER_SIGNING_KEY, algorithms=["HS256"], issuer="authenticator")
    assert header["alg"] == "HS256"
    assert set(claims) == {"iss", "sub", "sid", "amr", "level", "iat", "exp", "jti"}
    assert (claims["sub"], claims["sid"], claims["amr"], claims["level"]) == ("1001", pair.session_id, ["otp_email"], 2)
    assert claims["exp"] - claims["iat"] == 900


def test_refresh_tokens_are_stored_only_as_sha256(tk):
    pair = issue(tk)

    row = TokenizerRefreshToken.objects.get()
    assert row.token_hash == hashlib.sha256(pair.refresh_token.encode()).hexdigest()
    assert not TokenizerRefreshToken.objects.filter(token_hash=pair.refresh_token).exists()
    assert len(pair.refresh_token) >= 43  # token_urlsafe(32)


def test_issue_costs_two_inserts_and_no_reads(tk):
    with CaptureQueriesContext(connection) as queries:
        issue(tk)

    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements.count("INSERT") == 2
    assert not {"SELECT", "UPDATE", "DELETE"} & set(statements)


def test_a_refused_issue_leaves_the_callers_transaction_usable(tk):
    session_id = new_session_id()
    with transaction.atomic():
        issue(tk, subject="1001", session_id=session_id, key="k-1")
        with pytest.raises(InvalidInput):
            issue(tk, subject="1001", session_id=session_id, key="k-2")
        # The duplicate INSERT failed inside a savepoint: the outer transaction goes on.
        second = issue(tk, subject="1001")
    assert TokenizerSession.objects.filter(pk__in=[session_id, second.session_id]).count() == 2


def test_issue_inside_a_rolled_back_transaction_leaves_nothing(tk):
    with pytest.raises(RuntimeError), transaction.atomic():
        pair = issue(tk)
        raise RuntimeError("the caller failed after issuing")

    assert not TokenizerSession.objects.exists()
    assert not tk.introspect(token=pair.access_token).active


def test_idempotent_issue_of_a_revoked_session_is_refused(tk):
    pair = issue(tk, subject="1001", key="k-1")
    tk.revoke_sessions(subject="1001")

    with pytest.raises(InvalidInput):
        issue(tk, subject="1001", session_id=pair.session_id, key="k-1")


def test_revoked_access_token_jti_is_kept_until_its_expiry(tk):
    pair = issue(tk)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})

    tk.revoke_token(token=pair.access_token)
    tk.revoke_token(token=pair.access_token)  # twice is fine

    row = TokenizerRevokedAccessToken.objects.get()
    assert row.jti == claims["jti"]
    assert int(row.expires_at.timestamp()) == claims["exp"]


def test_introspect_is_one_query(tk):
    pair = issue(tk)

    with CaptureQueriesContext(connection) as queries:
        assert tk.introspect(token=pair.access_token).active
    assert len(queries.captured_queries) == 1


def test_a_token_from_another_issuer_is_inactive(tk, settings):
    pair = issue(tk)
    authenticator_settings(settings, TOKENIZER_ISSUER="someone-else")

    assert not tk.introspect(token=pair.access_token).active


def test_without_a_signing_key_the_tokenizer_is_unavailable(tk, settings):
    authenticator_settings(settings, TOKENIZER_SIGNING_KEY="")
    settings.SECRET_KEY = ""

    with pytest.raises(TokenizerUnavailable):
        issue(tk)
    assert not TokenizerSession.objects.exists()


def test_purge_deletes_only_what_can_no_longer_matter(tk):
    now = timezone.now()
    live = issue(tk, subject="1001")
    revoked_long_ago = issue(tk, subject="1001")
    revoked_just_now = issue(tk, subject="1001")
    expired = issue(tk, subject="1001")
    TokenizerSession.objects.filter(pk=revoked_long_ago.session_id).update(revoked_at=now - timedelta(hours=1))
    TokenizerSession.objects.filter(pk=revoked_just_now.session_id).update(revoked_at=now)
    TokenizerSession.objects.filter(pk=expired.session_id).update(created_at=now - timedelta(days=40))
    TokenizerRefreshToken.objects.filter(session_id=expired.session_id).update(expires_at=now - timedelta(days=10))
    TokenizerRevokedAccessToken.objects.create(jti="old", expires_at=now - timedelta(seconds=1))
    TokenizerRevokedAccessToken.objects.create(jti="fresh", expires_at=now + timedelta(minutes=10))

    counts = tk.purge(now=now)

    assert counts == {"refresh_tokens": 1, "revoked_access_tokens": 1, "sessions": 2}
    assert set(TokenizerSession.objects.values_list("pk", flat=True)) == {live.session_id, revoked_just_now.session_id}
    assert list(TokenizerRevokedAccessToken.objects.values_list("jti", flat=True)) == ["fresh"]
    assert tk.refresh(refresh_token=live.refresh_token).session_id == live.session_id


@pytest.mark.django_db(transaction=True)
def test_one_refresh_token_presented_concurrently_is_redeemed_exactly_once(tk):
    pair = issue(tk)
    racers = 8
    barrier = threading.Barrier(racers)
    results: list[object] = []
    lock = threading.Lock()

    def redeem() -> None:
        try:
            barrier.wait(5)
            outcome: object = tk.refresh(refresh_token=pair.refresh_token)
        except InvalidToken as exc:
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=redeem) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    winners = [r for r in results if not isinstance(r, InvalidToken)]
    assert len(results) == racers
    assert len(winners) == 1
    # The others presented a token already rotated — reuse — so the session is revoked.
    assert TokenizerSession.objects.get(pk=pair.session_id).revoked_at is not None


def test_refresh_slides_the_refresh_lifetime(tk, settings):
    pair = issue(tk)
    before = TokenizerRefreshToken.objects.get().expires_at
    time.sleep(0.01)

    renewed = tk.refresh(refresh_token=pair.refresh_token)

    new_row = TokenizerRefreshToken.objects.get(token_hash=hashlib.sha256(renewed.refresh_token.encode()).hexdigest())
    assert new_row.expires_at > before
    assert TokenizerRefreshToken.objects.get(token_hash=hashlib.sha256(pair.refresh_token.encode()).hexdigest()).used_at is not None
