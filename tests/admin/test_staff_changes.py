"""Every write in the admin goes through the service layer and leaves an audit row.

An email set by staff is unverified until its owner verifies it (else a staff member
points a verified address at their own inbox and signs in by email code); the phone
number, where sign-in codes go, is not theirs to set; each change is a StaffChange row
(who, what, when, old/new — never a secret) in the change's own transaction, shown on
the user's page and read-only everywhere.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.test import Client

from accounts import services
from accounts.models import StaffChange, StatusHistory, User, UserStatus
from authenticator.core.errors import PhoneNumberTaken, StaffNotAllowed
from authenticator.flows.common import Identifier, user_for_identifier
from tests.factories import UserFactory

from .conftest import SUPPORT_PASSWORD, make_support
from .test_escalation import NEW_PASSWORD, change_form, make_actor, perm, user_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def changer(db) -> tuple[User, Client]:
    """The review's staff member: view_user + change_user, not a superuser."""
    actor = make_actor("changer")
    client = Client()
    client.force_login(actor)
    return actor, client


def audit(user: User) -> list[tuple]:
    return list(StaffChange.objects.filter(user=user).order_by("changed_at", "id")
                .values_list("field", "old_value", "new_value", "actor_id", "reason"))


def support_form(client: Client, user: User, **fields) -> dict:
    """The change form as a staff member who is not a superuser posts it (no staff fields)."""
    data = change_form(client, user, **{"phone_number": user.phone_number, "name": user.name, "salutation": "",
                                        "email": user.email or "", **fields})
    for name in ("is_staff", "is_superuser", "groups", "user_permissions"):
        data.pop(name)
    return data


def test_an_email_set_by_staff_is_unverified_and_audited(changer):
    actor, client = changer
    user = UserFactory(email="ann@example.com", name="Ann")
    assert user.email_verified_at is not None
    response = client.post(user_url(user, "change/"), support_form(client, user, email="Staffer@Example.com"))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    user.refresh_from_db()
    assert (user.email, user.email_verified_at) == ("Staffer@example.com", None)
    # So the address is no way in: an email sign-in finds no account for it.
    assert user_for_identifier(Identifier("email", "staffer@example.com")) is None
    assert audit(user) == [("email", "ann@example.com", "Staffer@example.com", actor.pk, "")]


def test_an_unchanged_form_writes_nothing(changer):
    _, client = changer
    user = UserFactory(email="ann@example.com")
    verified = user.email_verified_at
    assert client.post(user_url(user, "change/"), support_form(client, user)).status_code == 302
    user.refresh_from_db()
    assert user.email_verified_at == verified and audit(user) == []


def test_staff_who_are_not_superusers_cannot_set_the_phone_number(changer):
    """The phone number is where sign-in codes go: whoever sets it signs in as the user."""
    _, client = changer
    user = UserFactory(phone_number="+447400123456", name="Ann")
    html = client.get(user_url(user, "change/")).content.decode()
    assert 'name="phone_number"' not in html and 'name="country_id"' not in html and "+447400123456" in html
    response = client.post(user_url(user, "change/"), support_form(client, user, phone_number="+447400999999", name="Ann B"))
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.phone_number, user.name) == ("+447400123456", "Ann B")
    assert [row[0] for row in audit(user)] == ["name"]


def test_a_superuser_may_set_it_unverified_and_audited(admin_client_, superuser):
    user = UserFactory(phone_number="+447400123456", email="ann@example.com")
    data = change_form(admin_client_, user, phone_number="07400 654321", name=user.name, email=user.email,
                       is_staff="", is_superuser="", groups=[], user_permissions=[])
    assert admin_client_.post(user_url(user, "change/"), data).status_code == 302
    user.refresh_from_db()
    assert (user.phone_number, user.phone_verified_at, user.email_verified_at is not None) == ("+447400654321", None, True)
    assert audit(user) == [("phone_number", "+447400123456", "+447400654321", superuser.pk, "")]


def test_a_password_change_is_audited_without_any_value(admin_client_, superuser):
    staff = make_support(phone_number="+447400900140")
    response = admin_client_.post(user_url(staff, "password/"), {
        "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true", "set-password": "1"})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.check_password(NEW_PASSWORD)
    assert audit(staff) == [("password", None, None, superuser.pk, "password changed")]
    # No trace of the secret: not the password, not its hash, not the old hash.
    texts = [*StaffChange.objects.values_list("old_value", "new_value", "reason"), *LogEntry.objects.values_list("change_message")]
    flat = " ".join(str(t) for row in texts for t in row)
    for secret in (NEW_PASSWORD, SUPPORT_PASSWORD, staff.password, staff.password.split("$")[-1]):
        assert secret not in flat


def test_roles_set_by_a_superuser_are_audited(admin_client_, superuser):
    user = UserFactory()
    data = change_form(admin_client_, user, phone_number=user.phone_number, name=user.name, email=user.email,
                       is_staff="on", is_superuser="", groups=[Group.objects.get(name="Support").pk],
                       user_permissions=[perm("accounts.block_user").pk])
    assert admin_client_.post(user_url(user, "change/"), data).status_code == 302
    assert sorted(audit(user)) == sorted([
        ("is_staff", "False", "True", superuser.pk, ""),
        ("groups", "", "Support", superuser.pk, ""),
        ("user_permissions", "", "accounts.block_user", superuser.pk, ""),
    ])


def test_adding_a_user_goes_through_user_create_and_is_audited(admin_client_, superuser):
    response = admin_client_.post("/admin/accounts/user/add/", {
        "phone_number": "07400 555666", "country_id": "GB", "name": "New Staff",
        "password1": "a-long-passphrase-for-staff", "password2": "a-long-passphrase-for-staff",
    })
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(phone_number="+447400555666")
    assert user.check_password("a-long-passphrase-for-staff")
    (row,) = StatusHistory.objects.filter(user=user)
    assert (row.previous_status, row.status, row.reason, row.actor_id, row.actor_label) == (None, "unverified", "created", superuser.pk, "admin")
    assert sorted(audit(user)) == sorted([
        ("phone_number", None, "+447400555666", superuser.pk, "created in the admin"),
        ("country_id", None, "GB", superuser.pk, "created in the admin"),
        ("name", None, "New Staff", superuser.pk, "created in the admin"),
        ("password", None, None, superuser.pk, "password set"),
    ])


def test_support_actions_are_audited(support, support_user):
    user = UserFactory(status=UserStatus.ACTIVE, tier=1, level=1)
    base = f"/admin/accounts/user/{user.pk}/support/"
    support.post(base + "block/", {"apply": "1", "reason": "fraud report #12"})
    support.post(base + "unblock/", {"apply": "1", "reason": "appeal accepted"})
    support.post(base + "set_level/", {"apply": "1", "level": "3", "tier": "2", "reason": "KYC passed"})
    support.post(base + "signout/", {"apply": "1", "reason": "lost phone"})
    assert audit(user) == [
        ("status", "active", "blocked", support_user.pk, "fraud report #12"),
        ("status", "blocked", "active", support_user.pk, "appeal accepted"),
        ("tier", "1", "2", support_user.pk, "KYC passed"),
        ("level", "1", "3", support_user.pk, "KYC passed"),
        ("sessions", None, "0 revoked", support_user.pk, "lost phone"),
    ]


def test_the_audit_is_on_the_users_page_newest_first_and_limited(support, support_user):
    user = UserFactory()
    for n in range(55):
        services.staff_change_record(user=user, actor=support_user, field="name", old=f"n{n}", new=f"n{n + 1}")
    response = support.get(user_url(user, "change/"))
    (formset,) = [f.formset for f in response.context["inline_admin_formsets"] if f.formset.model is StaffChange]
    shown = [form.instance.new_value for form in formset.forms]
    assert len(shown) == 50 and shown[0] == "n55" and shown[-1] == "n6"
    assert "Changes by staff" in response.content.decode()


def test_the_audit_is_read_only_everywhere(admin_client_, superuser):
    user = UserFactory()
    row = services.staff_change_record(user=user, actor=superuser, field="name", old="a", new="b")
    assert admin_client_.get("/admin/accounts/staffchange/").status_code == 200
    assert admin_client_.get("/admin/accounts/staffchange/add/").status_code == 403
    assert admin_client_.post(f"/admin/accounts/staffchange/{row.pk}/change/", {"field": "x"}).status_code == 403
    assert admin_client_.post(f"/admin/accounts/staffchange/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert StaffChange.objects.get(pk=row.pk).field == "name"
    # Nor from the user's page: the inline offers no add, change or delete.
    formset = [f for f in admin_client_.get(user_url(user, "change/")).context["inline_admin_formsets"]
               if f.formset.model is StaffChange][0]
    assert not (formset.has_add_permission or formset.has_change_permission or formset.has_delete_permission)


def test_a_refused_change_leaves_neither_the_change_nor_its_audit(superuser):
    """The audit row is written in the change's transaction: both or neither."""
    other = UserFactory(phone_number="+447400777888")
    user = UserFactory(name="Ann")
    with pytest.raises(PhoneNumberTaken):
        services.user_update_by_staff(user=user, actor=superuser, changes={"name": "Changed", "phone_number": other.phone_number})
    user.refresh_from_db()
    assert user.name == "Ann" and audit(user) == []


def test_the_service_refuses_what_the_role_does_not_allow_whatever_the_edge(superuser):
    actor = make_actor("everything")
    plain = UserFactory()
    support = Group.objects.get(name="Support")
    for changes in ({"groups": [support]}, {"is_staff": True}, {"phone_number": "+447400999998"}):
        with pytest.raises(StaffNotAllowed):
            services.user_update_by_staff(user=plain, actor=actor, changes=changes)
    for target in (superuser, actor):
        with pytest.raises(StaffNotAllowed):
            services.user_update_by_staff(user=target, actor=actor, changes={"name": "x"})
        with pytest.raises(StaffNotAllowed):
            services.user_set_password_by_staff(user=target, actor=actor, password=NEW_PASSWORD)
    changer = make_support(phone_number="+447400900120")
    changer.groups.clear()
    changer.user_permissions.add(perm("accounts.change_user"))
    changer = User.objects.get(pk=changer.pk)
    with pytest.raises(StaffNotAllowed):
        services.group_save_by_staff(group=Group(name="Mine"), actor=changer, permissions=[perm("accounts.delete_user")])
    assert not Group.objects.filter(name="Mine").exists()
    assert not StaffChange.objects.exists()
    assert User.objects.get(pk=plain.pk).groups.count() == 0
def test_a_superuser_still_sets_roles_and_passwords_audited(admin_client_, superuser):
    staff = make_support(phone_number="+447400900130")
    data = change_form(admin_client_, staff, phone_number=staff.phone_number, name=staff.name, email="",
                       is_superuser="", groups=[], user_permissions=[perm("accounts.block_user").pk])
    response = admin_client_.post(user_url(staff, "change/"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    staff = User.objects.get(pk=staff.pk)
    assert (staff.is_staff, staff.is_superuser, list(staff.groups.all())) == (True, False, [])
    assert list(staff.user_permissions.values_list("codename", flat=True)) == ["block_user"]
    rows = {r.field: (r.old_value, r.new_value, r.actor_id) for r in StaffChange.objects.filter(user=staff)}
    assert rows["groups"] == ("Support", "", superuser.pk)
    assert rows["user_permissions"][1:] == ("accounts.block_user", superuser.pk)

    response = admin_client_.post(user_url(staff, "password/"), {
        "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true", "set-password": "1"})
    assert response.status_code == 302
    assert User.objects.get(pk=staff.pk).check_password(NEW_PASSWORD)
    assert not User.objects.get(pk=staff.pk).check_password(SUPPORT_PASSWORD)
