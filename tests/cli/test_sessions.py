"""sessions and signout: list a user's login states, revoke one or all."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from authenticator.tokenizer import tokenizer
from sessions_log.models import LoginState, LoginStatus
from tests.cli.conftest import cli
from tests.factories import LoginStateFactory, UserFactory

pytestmark = pytest.mark.django_db

SESSION_KEYS = {"id", "device", "location", "ip", "method", "status", "logged_in_at", "logged_out_at", "current"}


def signed_in(user, platform: str):
    """A real session: a login state and the Tokenizer's tokens for it."""
    state = LoginStateFactory(user=user, logged_in_on=platform)
    pair = tokenizer().issue(subject=str(user.pk), session_id=str(state.pk), amr=["otp_sms"], level=1, ip=None,
                             user_agent="", idempotency_key=f"t-{state.pk}")
    return state, pair


def test_sessions_lists_active_ones_and_all_with_the_flag():
    user = UserFactory()
    ios, _ = signed_in(user, "ios")
    LoginStateFactory(user=user, logged_in_on="old", status=LoginStatus.LOGGED_OUT, logged_out_at=timezone.now())
    LoginStateFactory(logged_in_on="someone else's")

    body = json.loads(cli("sessions", "--user", user.email, "--json").out)
    assert body["user_id"] == str(user.pk)
    assert [s["id"] for s in body["sessions"]] == [str(ios.pk)]
    assert set(body["sessions"][0]) == SESSION_KEYS
    assert body["sessions"][0]["device"] == "ios"

    body = json.loads(cli("sessions", "--user", str(user.pk), "--all", "--json").out)
    assert sorted(s["device"] for s in body["sessions"]) == ["ios", "old"]

    run = cli("sessions", "--user", str(user.pk))
    assert run.status == 0
    lines = run.out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{ios.pk}  active      ios  from GB (81.2.69.160)")


def test_sessions_of_a_user_with_none():
    user = UserFactory()
    assert cli("sessions", "--user", str(user.pk)).out == "no sessions\n"


def test_signout_revokes_every_session_and_its_tokens():
    user = UserFactory()
    pairs = [signed_in(user, name)[1] for name in ("ios", "web", "android")]
    other, other_pair = signed_in(UserFactory(), "ios")

    run = cli("signout", "--user", user.phone_number, "--json")
    assert (run.status, json.loads(run.out)) == (0, {"user_id": str(user.pk), "revoked": 3})
    assert set(LoginState.objects.filter(user=user).values_list("status", flat=True)) == {LoginStatus.REVOKED}
    assert all(not tokenizer().introspect(token=pair.access_token).active for pair in pairs)
    other.refresh_from_db()
    assert other.status == LoginStatus.ACTIVE
    assert tokenizer().introspect(token=other_pair.access_token).active

    assert cli("signout", "--user", user.phone_number).out == f"revoked 0 session(s) of user {user.pk}\n"


def test_signout_one_session():
    user = UserFactory()
    ios, ios_pair = signed_in(user, "ios")
    web, web_pair = signed_in(user, "web")

    run = cli("signout", "--user", str(user.pk), "--session", str(web.pk), "--json")
    assert json.loads(run.out) == {"user_id": str(user.pk), "revoked": 1}
    ios.refresh_from_db()
    web.refresh_from_db()
    assert (ios.status, web.status) == (LoginStatus.ACTIVE, LoginStatus.REVOKED)
    assert tokenizer().introspect(token=ios_pair.access_token).active
    assert not tokenizer().introspect(token=web_pair.access_token).active

    run = cli("signout", "--user", str(user.pk), "--session", str(web.pk))
    assert (run.status, run.err) == (7, "error: not_found: No such active session.\n")
    run = cli("signout", "--user", str(user.pk), "--session", "abc")
    assert (run.status, run.err) == (7, "error: not_found: No such active session.\n")
