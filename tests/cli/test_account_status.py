"""block / unblock / suspend / delete_user: status history with the operator, sessions revoked."""

from __future__ import annotations

import json

import pytest

from accounts.models import StatusHistory, UserStatus
from authenticator.core.errors import InvalidToken
from authenticator.flows.sign_in_otp import sign_in_otp_verify
from authenticator.flows.signup import signup_start, signup_verify
from authenticator.flows.tokens import token_refresh
from authenticator.management.base import operator_label
from authenticator.tokenizer import tokenizer
from sessions_log.models import LoginState, LoginStatus
from sessions_log.services import Requester
from tests.cli.conftest import cli, outbox_code
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PHONE = "+447400123458"


def signed_up_twice():
    """An active user signed in on two devices, through the flows; returns (user, [pairs])."""
    signup_start(phone_number=PHONE, country_id="GB", name="Cy", email="cy@example.com", wait=True)
    first = signup_verify(phone_number=PHONE, code=outbox_code(PHONE), requester=Requester(platform="ios"))
    from otp.models import OtpChannel, OtpPurpose
    from otp.services import otp_issue

    _otp, code = otp_issue(user_id=first.user.pk, purpose=OtpPurpose.SIGNIN, channel=OtpChannel.SMS, sent_to=PHONE)
    from authenticator.flows.common import identifier_parse

    second = sign_in_otp_verify(identifier=identifier_parse(phone_number=PHONE), code=code, requester=Requester(platform="web"))
    return first.user, [first.tokens, second.tokens]


def test_block_writes_history_with_the_operator_and_revokes_every_session():
    user, pairs = signed_up_twice()
    run = cli("block", "--user", str(user.pk), "--reason", "  card\nfraud  ", "--json")
    assert (run.status, run.err) == (0, "")
    body = json.loads(run.out)
    assert (body["previous_status"], body["status"], body["changed"]) == ("active", "blocked", True)
    assert body["user"]["id"] == str(user.pk)

    row = StatusHistory.objects.filter(user=user).first()
    assert (row.status, row.previous_status, row.reason, row.actor_id) == ("blocked", "active", "card fraud", None)
    assert row.actor_label == operator_label()
    assert row.actor_label.startswith("cli:") and len(row.actor_label) > 4
    assert set(LoginState.objects.filter(user=user).values_list("status", flat=True)) == {LoginStatus.REVOKED}
    for pair in pairs:
        assert tokenizer().introspect(token=pair.access_token).active is False
        with pytest.raises(InvalidToken):
            token_refresh(refresh_token=pair.refresh_token)


def test_block_then_unblock_by_phone_and_email():
    user = UserFactory(phone_number="+447400123459", email="dee@example.com")
    assert cli("block", "--user", "+44 7400 123459", "--reason", "spam").status == 0
    run = cli("unblock", "--user", "DEE@example.com", "--reason", "appeal upheld")
    assert run.status == 0, run.err
    assert run.out == f"unblocked: user {user.pk} (+447400123459, dee@example.com) active, tier 1 level 1 (was blocked)\n"
    rows = list(StatusHistory.objects.filter(user=user).order_by("updated_at", "id").values_list("previous_status", "status", "reason"))
    assert rows == [("active", "blocked", "spam"), ("blocked", "active", "appeal upheld")]


def test_suspend_then_unblock_reinstates():
    user = UserFactory()
    assert cli("suspend", "--user", str(user.pk), "--reason", "review").status == 0
    user.refresh_from_db()
    assert user.status == UserStatus.SUSPENDED
    assert cli("unblock", "--user", str(user.pk), "--reason", "reviewed").status == 0
    user.refresh_from_db()
    assert user.status == UserStatus.ACTIVE


def test_unblock_never_activates_an_unverified_user():
    user = UserFactory(status=UserStatus.UNVERIFIED)
    run = cli("unblock", "--user", str(user.pk), "--reason", "why not")
    assert (run.status, run.out) == (8, "")
    assert run.err == "error: invalid_status_transition: An account becomes active only once its phone number is verified.\n"
    user.refresh_from_db()
    assert user.status == UserStatus.UNVERIFIED
    assert not StatusHistory.objects.filter(user=user).exists()


def test_deleted_is_final():
    user = UserFactory()
    assert cli("delete_user", "--user", str(user.pk), "--reason", "asked to be forgotten").status == 0
    run = cli("unblock", "--user", str(user.pk), "--reason", "oops")
    assert run.status == 8
    assert run.err.startswith("error: invalid_status_transition: ")
    run = cli("block", "--user", str(user.pk), "--reason", "oops", "--json")
    assert run.status == 8
    assert json.loads(run.err)["code"] == "invalid_status_transition"
    user.refresh_from_db()
    assert user.status == UserStatus.DELETED


def test_blocking_a_blocked_user_changes_nothing():
    user = UserFactory(status=UserStatus.BLOCKED)
    run = cli("block", "--user", str(user.pk), "--reason", "again", "--json")
    assert run.status == 0
    assert json.loads(run.out)["changed"] is False
    assert not StatusHistory.objects.filter(user=user).exists()


def test_a_reason_is_required():
    user = UserFactory()
    run = cli("block", "--user", str(user.pk), "--reason", "   ")
    assert (run.status, run.err) == (2, "error: invalid_request: The request is invalid. (reason: Give a reason.)\n")


@pytest.mark.parametrize(("value", "status", "line"), [
    ("123", 7, "error: not_found: No user with id 123.\n"),
    ("+447400000001", 7, "error: not_found: No user +447400000001.\n"),
    ("nobody@example.com", 7, "error: not_found: No user nobody@example.com.\n"),
    ("not a user", 2, "error: invalid_request: The request is invalid. (user: Not a user id, phone number or email address.)\n"),
    ("a@b@", 2, "error: invalid_request: The request is invalid. (user: Enter a valid email address.)\n"),
    ("99999999999999999999999", 7, "error: not_found: No user with id 99999999999999999999999.\n"),
])
def test_unknown_users_exit_with_one_line(value, status, line):
    run = cli("suspend", "--user", value, "--reason", "x")
    assert (run.status, run.out, run.err) == (status, "", line)


def test_block_then_unblock_never_activates_a_number_nobody_verified():
    """unverified → blocked → active would hand a squatter an active account on a number
    they don't own (found in review)."""
    user = UserFactory(status=UserStatus.UNVERIFIED, phone_verified_at=None)
    assert cli("block", "--user", str(user.pk), "--reason", "step one").status == 0
    run = cli("unblock", "--user", str(user.pk), "--reason", "step two")
    assert (run.status, run.out) == (8, "")
    assert run.err.startswith("error: invalid_status_transition: ")
    user.refresh_from_db()
    assert user.status == UserStatus.BLOCKED


def test_an_operator_may_activate_a_staff_account_without_a_verified_phone():
    staff = UserFactory(status=UserStatus.BLOCKED, phone_verified_at=None, is_staff=True)
    assert cli("unblock", "--user", str(staff.pk), "--reason", "new support hire").status == 0
    staff.refresh_from_db()
    assert staff.status == UserStatus.ACTIVE


def test_an_operator_activates_a_staff_account_only_by_way_of_blocked_or_suspended():
    """The table's one difference between a superuser and an operator: an unverified staff
    account is activated by a superuser in the admin, not by `manage.py unblock`."""
    hire = UserFactory(status=UserStatus.UNVERIFIED, phone_verified_at=None, is_staff=True)
    run = cli("unblock", "--user", str(hire.pk), "--reason", "new support hire")
    assert (run.status, run.err) == (8, "error: invalid_status_transition: Cannot change status from unverified to active.\n")
    hire.refresh_from_db()
    assert hire.status == UserStatus.UNVERIFIED
