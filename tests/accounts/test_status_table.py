"""The one status-transition table (accounts/status.py): every change, every asker, every
kind of account, against the database.

``refused_today`` below is the rule as it was spread over the code before the table
(services' ALLOWED_TRANSITIONS, the flow's verified-phone check, the CLI's unblock only
from blocked or suspended, the admin offering no delete), written out again independently:
the table must agree with it everywhere.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import StaffChange, StatusHistory, User, UserStatus
from accounts.services import levels_check, user_set_level, user_set_status
from accounts.status import TRANSITIONS, By, status_change_refusal
from authenticator.core.errors import InvalidInput, InvalidStatusTransition
from authenticator.flows.account_status import account_set_status
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

S = UserStatus
STATUSES = list(UserStatus)
# (is_staff, phone verified)
ACCOUNTS = {"plain": (False, True), "plain never verified": (False, False),
            "staff": (True, True), "staff never verified": (True, False)}
VERIFIED_ONLY = "An account becomes active only once its phone number is verified."


def refused_today(previous: str, status: str, by: By, *, staff: bool, verified: bool) -> bool:
    """Whether the code refused the change before the table."""
    if previous == status:
        return False  # nothing to do, never an error
    if by is By.USER:
        # The user's own flow is sign-up's verification, and only from unverified.
        return (previous, status) != (S.UNVERIFIED, S.ACTIVE)
    if by is By.OPERATOR and status == S.ACTIVE and previous not in (S.BLOCKED, S.SUSPENDED):
        return True  # manage.py unblock: only from blocked or suspended
    never_verified = previous == S.UNVERIFIED or not verified
    if status == S.ACTIVE and never_verified and not (staff and by in (By.SUPERUSER, By.OPERATOR)):
        return True
    if status == S.DELETED and by is not By.OPERATOR:
        return True  # the admin never deletes: `manage.py delete_user` does
    return status not in {
        S.UNVERIFIED: {S.ACTIVE, S.BLOCKED, S.DELETED},
        S.ACTIVE: {S.SUSPENDED, S.BLOCKED, S.DELETED},
        S.SUSPENDED: {S.ACTIVE, S.BLOCKED, S.DELETED},
        S.BLOCKED: {S.ACTIVE, S.DELETED},
        S.DELETED: set(),
    }[previous]


def today(previous: str, status: str, by: By, *, staff: bool, verified: bool) -> str | None:
    """The refusal's message, or None if the change is made. A refusal that the phone rule
    explains says so (CLI unblock said "Cannot unblock a user who is ..." before)."""
    if not refused_today(previous, status, by, staff=staff, verified=verified):
        return None
    never_verified = previous == S.UNVERIFIED or not verified
    if (status == S.ACTIVE and by is not By.USER and never_verified
            and not (staff and by in (By.SUPERUSER, By.OPERATOR))):
        return VERIFIED_ONLY
    return f"Cannot change status from {previous} to {status}."


def account(kind: str, status: str) -> User:
    staff, verified = ACCOUNTS[kind]
    return UserFactory(status=status, is_staff=staff, phone_verified_at=None if not verified else UserFactory.phone_verified_at.function())


def actor_for(by: By) -> User | None:
    if by is By.OPERATOR:
        return None
    return UserFactory(is_staff=True, is_superuser=by is By.SUPERUSER)


CASES = list(itertools.product(STATUSES, STATUSES, list(By)))


@pytest.mark.parametrize(("previous", "status", "by"), CASES, ids=[f"{p}->{s}-by-{b}" for p, s, b in CASES])
def test_every_change_by_every_asker_on_every_kind_of_account(previous, status, by):
    for kind, (staff, verified) in ACCOUNTS.items():
        user = account(kind, previous)
        actor = actor_for(by) if by is not By.USER else None
        expected = today(previous, status, by, staff=staff, verified=verified)
        refusal = status_change_refusal(user=user, status=status, by=by)
        assert (refusal and refusal.detail) == expected, kind
        if expected is None:
            user_set_status(user=user, status=status, by=by, reason="table", actor=actor)
        else:
            with pytest.raises(InvalidStatusTransition) as refused:
                user_set_status(user=user, status=status, by=by, reason="table", actor=actor)
            assert refused.value.detail == expected
        assert User.objects.get(pk=user.pk).status == (status if expected is None else previous), kind
        rows = list(StatusHistory.objects.filter(user=user).values_list("previous_status", "status", "actor_id"))
        changed = expected is None and previous != status
        assert rows == ([(previous, status, actor and actor.pk)] if changed else []), kind
        audited = StaffChange.objects.filter(user=user, field="status").count()
        assert audited == (1 if changed and actor is not None else 0), kind


@pytest.mark.parametrize(("previous", "status"), list(itertools.product(STATUSES, STATUSES)))
def test_the_flow_asks_the_table_for_support_superusers_and_operators(previous, status):
    for by, kind in itertools.product((By.SUPPORT, By.SUPERUSER, By.OPERATOR), ACCOUNTS):
        staff, verified = ACCOUNTS[kind]
        user = account(kind, previous)
        actor = actor_for(by)
        expected = today(previous, status, by, staff=staff, verified=verified)
        if expected is None:
            account_set_status(user=user, status=status, reason="flow", actor=actor)
        else:
            with pytest.raises(InvalidStatusTransition) as refused:
                account_set_status(user=user, status=status, reason="flow", actor=actor)
            assert refused.value.detail == expected
        assert User.objects.get(pk=user.pk).status == (status if expected is None else previous), (by, kind)


def test_the_table_names_only_real_statuses_and_askers():
    assert {s for pair in TRANSITIONS for s in pair} <= set(UserStatus)
    assert all(askers and askers <= set(By) for askers in TRANSITIONS.values())
    assert not any(status == S.UNVERIFIED or previous == S.DELETED for previous, status in TRANSITIONS)


def test_who_asks_follows_the_role():
    assert By.of(None) is By.OPERATOR
    assert By.of(UserFactory(is_staff=True, is_superuser=True)) is By.SUPERUSER
    assert By.of(UserFactory(is_staff=True)) is By.SUPPORT


def test_status_history_has_one_writer():
    """Rows are written by StatusHistory.objects.record and nothing else in the code."""
    root = Path(__file__).resolve().parents[2]
    writes = re.compile(r"(?<!class )StatusHistory\(|StatusHistory\.objects\.(create|bulk_create|get_or_create|update_or_create)"
                        r"|status_histories\.(create|add|bulk_create)")
    found = [
        f"{path.relative_to(root)}:{number}"
        for package in ("accounts", "authenticator", "otp", "sessions_log", "config")
        for path in sorted((root / package).rglob("*.py")) if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1) if writes.search(line)
    ]
    assert found == []


def test_createsuperuser_writes_the_first_history_row(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-admin-passphrase")
    call_command("createsuperuser", interactive=False, phone_number="07400 111333", country_id="gb", name=" Root ", verbosity=0)
    root = User.objects.get(phone_number="+447400111333")
    assert (root.country_id, root.name, root.status, root.phone_verified_at) == ("GB", "Root", S.ACTIVE, None)
    rows = list(StatusHistory.objects.filter(user=root).values_list("previous_status", "status", "reason"))
    assert rows == [(None, S.ACTIVE, "created")]


def test_createsuperuser_refuses_a_number_that_is_not_one(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-admin-passphrase")
    with pytest.raises(CommandError, match="phone number"):
        call_command("createsuperuser", interactive=False, phone_number="12", country_id="GB", name="Root", verbosity=0)
    assert not User.objects.exists()


@pytest.mark.parametrize(("level", "tier", "field"), [(0, None, "level"), (32768, None, "level"), (1, 0, "tier"), (5, 32768, "tier")])
def test_levels_out_of_range_are_refused_before_anything_changes(level, tier, field):
    user = UserFactory()
    with pytest.raises(InvalidInput) as refused:
        user_set_level(user=user, level=level, tier=tier)
    assert refused.value.extra["errors"] == {field: [{"code": "out_of_range", "message": "Must be between 1 and 32767."}]}
    user.refresh_from_db()
    assert (user.tier, user.level) == (1, 1)


def test_the_ends_of_the_level_range_are_allowed():
    levels_check(level=1, tier=32767)
    user = user_set_level(user=UserFactory(), level=32767, tier=1)
    user.refresh_from_db()
    assert (user.tier, user.level) == (1, 32767)
