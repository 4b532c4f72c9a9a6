"""Sessions that can no longer be refreshed become expired; refresh keeps one alive."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from authenticator.flows.tokens import sessions_list, token_refresh
from sessions_log.models import LoginState, LoginStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


@pytest.fixture
def refresh_ttl(settings) -> int:
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TOKENIZER_REFRESH_TTL": 2 * DAY}
    return 2 * DAY


def state(user, *, signed_in_days_ago: float, refreshed_days_ago: float | None = None, status=LoginStatus.ACTIVE):
    now = timezone.now()
    row = LoginState.objects.create(user=user, method="otp_sms", status=status)
    LoginState.objects.filter(pk=row.pk).update(
        logged_in_at=now - timedelta(days=signed_in_days_ago),
        last_refreshed_at=None if refreshed_days_ago is None else now - timedelta(days=refreshed_days_ago),
    )
    return row.pk


def purge_json() -> dict:
    out = StringIO()
    call_command("purge", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_purge_marks_lapsed_sessions_expired_at_the_moment_they_lapsed(refresh_ttl):
    user = UserFactory()
    lapsed = state(user, signed_in_days_ago=3)                            # never refreshed, 3 days > 2
    refreshed_long_ago = state(user, signed_in_days_ago=10, refreshed_days_ago=2.5)
    kept_alive = state(user, signed_in_days_ago=10, refreshed_days_ago=1)  # refreshed within the lifetime
    fresh = state(user, signed_in_days_ago=1)
    ended = state(user, signed_in_days_ago=5, status=LoginStatus.LOGGED_OUT)

    assert {s.pk for s in sessions_list(user=user)} == {kept_alive, fresh}  # lapsed ones are hidden at once

    assert purge_json()["expired_login_states"] == 2

    rows = {row.pk: row for row in LoginState.objects.all()}
    assert {pk for pk, row in rows.items() if row.status == LoginStatus.EXPIRED} == {lapsed, refreshed_long_ago}
    assert rows[kept_alive].status == rows[fresh].status == LoginStatus.ACTIVE
    assert rows[ended].status == LoginStatus.LOGGED_OUT
    lapsed_at = rows[lapsed].logged_in_at + timedelta(seconds=refresh_ttl)
    assert abs(rows[lapsed].logged_out_at - lapsed_at) < timedelta(seconds=1)
    assert abs(rows[refreshed_long_ago].logged_out_at - (rows[refreshed_long_ago].last_refreshed_at
                                                          + timedelta(seconds=refresh_ttl))) < timedelta(seconds=1)
    assert "expired_login_states" not in purge_json()  # nothing more to mark


def test_a_refresh_records_itself_on_the_login_state():
    from authenticator.tokenizer import tokenizer

    user = UserFactory()
    state_pk = state(user, signed_in_days_ago=0)
    tokens = tokenizer().issue(subject=str(user.pk), session_id=str(state_pk), amr=["otp_sms"], level=user.level,
                               ip=None, user_agent="", idempotency_key=f"login-state-{state_pk}")
    assert LoginState.objects.get(pk=state_pk).last_refreshed_at is None
    before = timezone.now()
    pair = token_refresh(refresh_token=tokens.refresh_token)
    assert pair.session_id == str(state_pk)
    assert LoginState.objects.get(pk=state_pk).last_refreshed_at >= before
