"""set_level, user_stats and purge."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import UserStatus
from otp.models import Otp
from otp.services import otps_purge_expired
from sessions_log.models import LoginState, LoginStatus
from sessions_log.services import login_states_purge
from tests.cli.conftest import ROOT, cli, subprocess_env
from tests.factories import LoginStateFactory, OtpFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_set_level_and_tier():
    user = UserFactory()
    run = cli("set_level", "--user", str(user.pk), "--level", "3", "--tier", "2", "--json")
    assert run.status == 0
    assert (json.loads(run.out)["user"]["level"], json.loads(run.out)["user"]["tier"]) == (3, 2)
    user.refresh_from_db()
    assert (user.tier, user.level) == (2, 3)

    run = cli("set_level", "--user", str(user.pk), "--level", "4")
    assert run.out.startswith(f"set: user {user.pk} ")
    user.refresh_from_db()
    assert (user.tier, user.level) == (2, 4)


def test_set_level_refuses_out_of_range():
    user = UserFactory()
    run = cli("set_level", "--user", str(user.pk), "--level", "0")
    assert (run.status, run.err) == (2, "error: invalid_request: The request is invalid. (level: Must be between 1 and 32767.)\n")
    user.refresh_from_db()
    assert user.level == 1


def test_user_stats_counts_by_status():
    UserFactory.create_batch(3)
    UserFactory.create_batch(2, status=UserStatus.BLOCKED)
    UserFactory(status=UserStatus.UNVERIFIED)
    run = cli("user_stats", "--json")
    assert json.loads(run.out) == {
        "counts": {"unverified": 1, "active": 3, "suspended": 0, "blocked": 2, "deleted": 0}, "total": 6,
    }
    assert cli("user_stats").out.splitlines() == [
        "unverified  1", "active      3", "suspended   0", "blocked     2", "deleted     0", "total       6",
    ]


def make_purgeable():
    """7 OTPs expired 2 days ago, 2 an hour ago, 1 live; 5 sessions ended 100 days ago,
    1 ended 10 days ago, 1 still active since 200 days (refreshed yesterday)."""
    now = timezone.now()
    user = UserFactory()
    OtpFactory.create_batch(7, user=user, expired_at=now - timedelta(days=2))
    recent = OtpFactory.create_batch(2, user=user, expired_at=now - timedelta(hours=1))
    live = OtpFactory(user=user)
    LoginStateFactory.create_batch(5, user=user, status=LoginStatus.LOGGED_OUT, logged_out_at=now - timedelta(days=100))
    ended = LoginStateFactory(user=user, status=LoginStatus.REVOKED, logged_out_at=now - timedelta(days=10))
    active = LoginStateFactory(user=user)
    # Signed in 200 days ago and refreshed yesterday: still active (one never refreshed
    # for that long would have lapsed: tests/cli/test_session_expiry.py).
    LoginState.objects.filter(pk=active.pk).update(logged_in_at=now - timedelta(days=200),
                                                   last_refreshed_at=now - timedelta(days=1))
    return {o.pk for o in [*recent, live]}, {ended.pk, active.pk}


def test_purge_deletes_in_batches_and_prints_the_counts():
    kept_otps, kept_states = make_purgeable()
    run = cli("purge", "--otps-older-than", "1", "--login-states-older-than", "90", "--batch-size", "2", "--json")
    assert (run.status, run.err) == (0, "")
    assert json.loads(run.out) == {"otps": 7, "login_states": 5, "email_claims": 0}
    assert set(Otp.objects.values_list("pk", flat=True)) == kept_otps
    assert set(LoginState.objects.values_list("pk", flat=True)) == kept_states

    run = cli("purge")
    assert run.out == "purged 0 OTPs and 0 login states\n"


def test_purge_drops_old_unverified_email_claims_and_keeps_verified_emails():
    from accounts.models import User

    month_ago = timezone.now() - timedelta(days=31)
    old_claims = UserFactory.create_batch(3, email_verified_at=None)
    fresh_claim = UserFactory(email_verified_at=None)
    verified = UserFactory(email="owner@example.com")
    User.objects.filter(pk__in=[u.pk for u in [*old_claims, verified]]).update(updated_at=month_ago)
    run = cli("purge", "--batch-size", "2")
    assert run.out == "purged 0 OTPs and 0 login states, cleared 3 unverified email claims\n"
    emails = dict(User.objects.values_list("pk", "email"))
    assert [emails[u.pk] for u in old_claims] == [None] * 3
    assert emails[fresh_claim.pk] == fresh_claim.email and emails[verified.pk] == "owner@example.com"
    assert User.objects.get(pk=old_claims[0].pk).updated_at == month_ago  # not a change the user made


def test_purge_functions_report_each_batch():
    make_purgeable()
    batches: list[int] = []
    assert otps_purge_expired(older_than=timedelta(days=1), batch_size=3, progress=batches.append) == 7
    assert batches == [3, 3, 1]
    batches.clear()
    assert login_states_purge(older_than=timedelta(days=90), batch_size=2, progress=batches.append) == 5
    assert batches == [2, 2, 1]


@pytest.mark.parametrize(("args", "line"), [
    (["--batch-size", "0"], "(batch_size: Must be between 1 and 100000.)"),
    (["--otps-older-than", "-1"], "(otps_older_than: Must be a number of days from 0 to 36500.)"),
    (["--login-states-older-than", "nan"], "(login_states_older_than: Must be a number of days from 0 to 36500.)"),
])
def test_purge_refuses_bad_numbers(args, line):
    run = cli("purge", *args)
    assert (run.status, run.err) == (2, f"error: invalid_request: The request is invalid. {line}\n")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_purge_shows_a_progress_bar_only_on_a_terminal():
    make_purgeable()
    env = subprocess_env()
    args = [sys.executable, "manage.py", "purge", "--batch-size", "2"]

    piped = subprocess.run(args, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, "purged 7 OTPs and 5 login states\n", "")

    make_purgeable()
    leader, follower = pty.openpty()
    try:
        on_tty = subprocess.run(args, check=False, cwd=ROOT, env=env, stdout=follower, stderr=subprocess.PIPE, text=True, timeout=60)
        os.close(follower)
        follower = -1
        out = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert on_tty.returncode == 0
    assert "purged 7 OTPs and 5 login states" in out.decode()
    # The bar goes to stderr (stdout stays the result) and ends at the full count.
    assert "purging OTPs: 7 rows" in on_tty.stderr
    assert "purging login states: 5 rows" in on_tty.stderr


@pytest.mark.django_db(transaction=True)
def test_purge_also_drops_the_in_process_tokenizers_dead_rows():
    from io import StringIO

    from django.core.management import call_command

    from authenticator.tokenizer import tokenizer
    from authenticator.tokenizer.models import TokenizerRefreshToken

    pair = tokenizer().issue(subject="1", session_id="42", amr=["otp_sms"], level=1, ip=None, user_agent="",
                             idempotency_key="k")
    TokenizerRefreshToken.objects.update(expires_at=timezone.now() - timedelta(days=1))
    out = StringIO()
    call_command("purge", "--json", stdout=out)
    counts = json.loads(out.getvalue())
    assert counts["tokenizer"]["refresh_tokens"] == 1
    assert pair.session_id == "42" and not TokenizerRefreshToken.objects.exists()
