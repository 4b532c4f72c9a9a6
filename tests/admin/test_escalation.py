"""Staff who are not superusers cannot act beyond their role by any page of the admin.

One table: every admin page that can touch an account × the account (a superuser,
another staff member, oneself, a plain user) × the staff member's permissions (the
review's view+change, the Support group, every permission there is). Each row says
the answer, and for a refusal that nothing changed in the database. Then the other
ways to a role: groups, the add form, the service layer itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.models import StatusHistory, User, UserStatus
from sessions_log.models import LoginStatus
from tests.factories import LoginStateFactory, UserFactory

from .conftest import make_support

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "taken-over-passphrase-5512"


def perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def make_actor(kind: str) -> User:
    """A staff member (not a superuser) with one of the permission sets of the table."""
    actor = make_support(phone_number="+447400900100", name=f"Actor {kind}")
    if kind != "support":
        actor.groups.clear()
        if kind == "changer":  # what the review's staff member had
            actor.user_permissions.add(perm("accounts.view_user"), perm("accounts.change_user"))
        else:  # "everything": every permission there is, still not a superuser
            actor.user_permissions.set(Permission.objects.all())
    return User.objects.get(pk=actor.pk)  # no cached permissions


@dataclass
class World:
    actor: User
    client: Client
    targets: dict[str, User]


@pytest.fixture(params=["changer", "support", "everything"])
def world(request, superuser) -> World:
    actor = make_actor(request.param)
    client = Client()
    client.force_login(actor)
    targets = {
        "superuser": superuser,
        "staff": make_support(phone_number="+447400900101", name="Other Staff"),
        "self": actor,
        "plain": UserFactory(phone_number="+447400900102", name="Plain User", email="plain@example.com"),
    }
    for user in targets.values():
        LoginStateFactory(user=user)
    return World(actor=actor, client=client, targets=targets)


def snapshot(user: User) -> dict:
    user = User.objects.get(pk=user.pk)
    return {
        "password": user.password, "is_staff": user.is_staff, "is_superuser": user.is_superuser,
        "status": user.status, "name": user.name, "email": user.email, "email_verified_at": user.email_verified_at,
        "phone_number": user.phone_number, "tier": user.tier, "level": user.level,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(user.user_permissions.values_list("codename", flat=True)),
        "active_sessions": user.login_states.filter(status=LoginStatus.ACTIVE).count(),
    }


# The role of an account: never changed by a staff member who is not a superuser, whatever
# the page and whatever the account (a plain user made staff would be a role granted).
ROLE = ("password", "is_staff", "is_superuser", "groups", "permissions")


def user_url(user: User, tail: str) -> str:
    return f"/admin/accounts/user/{user.pk}/{tail}"


def change_form(client: Client, user: User, **fields) -> dict:
    """What the change form posts: the fields, every inline's management form, and the
    staff fields a forged request might add."""
    response = client.get(user_url(user, "change/"))
    data = {
        "phone_number": "+447400999999", "country_id": "GB", "name": "Taken Over", "salutation": "",
        "email": "attacker@example.com", "is_staff": "on", "is_superuser": "on",
        "groups": [Group.objects.get(name="Support").pk], "user_permissions": [perm("accounts.change_user").pk],
        **fields,
    }
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data[f"{formset.prefix}-TOTAL_FORMS"] = formset.total_form_count()
        data[f"{formset.prefix}-INITIAL_FORMS"] = formset.initial_form_count()
        for form in formset.initial_forms:
            data.update({form[name].html_name: form[name].value() for name in form.fields if name != "DELETE"})
    return data


Request = Callable[[Client, User], "object"]

# page name → how to ask for it
PAGES: dict[str, Request] = {
    "password GET": lambda c, u: c.get(user_url(u, "password/")),
    "password POST": lambda c, u: c.post(user_url(u, "password/"), {
        "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true", "set-password": "1"}),
    "change GET": lambda c, u: c.get(user_url(u, "change/")),
    "change POST": lambda c, u: c.post(user_url(u, "change/"), change_form(c, u)),
    "delete GET": lambda c, u: c.get(user_url(u, "delete/")),
    "delete POST": lambda c, u: c.post(user_url(u, "delete/"), {"post": "yes"}),
    "history GET": lambda c, u: c.get(user_url(u, "history/")),
    "block GET": lambda c, u: c.get(user_url(u, "support/block/")),
    "block POST": lambda c, u: c.post(user_url(u, "support/block/"), {"apply": "1", "reason": "x"}),
    "set_level POST": lambda c, u: c.post(user_url(u, "support/set_level/"), {"apply": "1", "level": "9"}),
    "signout POST": lambda c, u: c.post(user_url(u, "support/signout/"), {"apply": "1"}),
    "bulk block POST": lambda c, u: c.post("/admin/accounts/user/", {
        "action": "block_users", "_selected_action": [u.pk], "apply": "1", "reason": "x"}),
    "bulk delete POST": lambda c, u: c.post("/admin/accounts/user/", {
        "action": "delete_selected", "_selected_action": [u.pk], "post": "yes"}),
}

# A staff member's, a superuser's or one's own account: the same answer for every actor.
# "change GET" is the read-only page (no field to edit); everything else is refused.
REFUSED = {
    "password GET": 403, "password POST": 403, "change GET": 200, "change POST": 403,
    "delete GET": 403, "delete POST": 403, "history GET": 403,
    "block GET": 403, "block POST": 403, "set_level POST": 403, "signout POST": 403,
    # The changelist redirects back with a message for each refused account; with no
    # action to offer (view+change only) it is just the list again.
    "bulk block POST": {"changer": 200, "support": 302, "everything": 302},
    "bulk delete POST": {"changer": 200, "support": 302, "everything": 302},
}

# A plain user's account: page → actor → (status, whether the account changed).
# Passwords are a staff sign-in (plain users have none): superusers set them. Accounts are
# never deleted here, and the history page is the superusers' admin log.
NO = {"changer": (403, False), "support": (403, False), "everything": (403, False)}
PLAIN = {
    "password GET": NO, "password POST": NO,
    "change GET": {"changer": (200, False), "support": (200, False), "everything": (200, False)},
    "change POST": {"changer": (302, True), "support": (403, False), "everything": (302, True)},
    "delete GET": NO, "delete POST": NO, "history GET": NO,
    "block GET": {"changer": (403, False), "support": (200, False), "everything": (200, False)},
    "block POST": {"changer": (403, False), "support": (302, True), "everything": (302, True)},
    "set_level POST": {"changer": (403, False), "support": (302, True), "everything": (302, True)},
    "signout POST": {"changer": (403, False), "support": (302, True), "everything": (302, True)},
    "bulk block POST": {"changer": (200, False), "support": (302, True), "everything": (302, True)},
    "bulk delete POST": {"changer": (200, False), "support": (302, False), "everything": (302, False)},
}


def actor_kind(world: World) -> str:
    return world.actor.name.removeprefix("Actor ")


@pytest.mark.parametrize("target", ["superuser", "staff", "self"])
@pytest.mark.parametrize("page", list(PAGES))
def test_staff_cannot_act_on_staff_superusers_or_themselves(world, target, page):
    user = world.targets[target]
    before = snapshot(user)
    expected = REFUSED[page]
    if isinstance(expected, dict):
        expected = expected[actor_kind(world)]
    response = PAGES[page](world.client, user)
    assert response.status_code == expected, (page, target, actor_kind(world))
    assert snapshot(user) == before
    if page == "change GET":  # read-only: nothing to edit, no action offered
        html = response.content.decode()
        assert 'name="name"' not in html and 'name="email"' not in html and "/support/" not in html
        assert 'name="groups"' not in html and "password/" not in html


@pytest.mark.parametrize("page", list(PAGES))
def test_what_staff_may_do_to_a_plain_user(world, page):
    user = world.targets["plain"]
    before = snapshot(user)
    status, changes = PLAIN[page][actor_kind(world)]
    response = PAGES[page](world.client, user)
    assert response.status_code == status, (page, actor_kind(world), response.content[:300])
    after = snapshot(user)
    assert (after != before) is changes
    assert {k: after[k] for k in ROLE} == {k: before[k] for k in ROLE}


# -- the other ways to a role --------------------------------------------------------------


def group_with(name: str, *perms: str) -> Group:
    group = Group.objects.create(name=name)
    group.permissions.set([perm(p) for p in perms])
    return group


@pytest.fixture
def group_manager(db) -> tuple[User, Client, Group]:
    """A staff member who manages groups (and is in one), not a superuser."""
    actor = make_support(phone_number="+447400900110", name="Group Manager")
    actor.groups.clear()
    own = group_with("Managers", "auth.view_group", "auth.add_group", "auth.change_group", "auth.delete_group",
                     "accounts.view_user", "accounts.block_user")
    actor.groups.add(own)
    client = Client()
    client.force_login(actor)
    return actor, client, own


def group_perms(group: Group) -> list[str]:
    return sorted(Group.objects.get(pk=group.pk).permissions.values_list("codename", flat=True))


def test_a_staff_member_cannot_add_permissions_to_their_own_group(group_manager):
    actor, client, own = group_manager
    before = group_perms(own)
    url = f"/admin/auth/group/{own.pk}/change/"
    assert client.get(url).status_code == 200  # read-only
    response = client.post(url, {"name": "Managers", "permissions": [*own.permissions.values_list("pk", flat=True),
                                                                      perm("accounts.change_user").pk]})
    assert response.status_code == 403
    assert client.post(f"/admin/auth/group/{own.pk}/delete/", {"post": "yes"}).status_code == 403
    assert group_perms(own) == before
    assert not User.objects.get(pk=actor.pk).has_perm("accounts.change_user")


def test_nor_to_a_group_another_staff_member_is_in(group_manager, superuser):
    _, client, _ = group_manager
    support = Group.objects.get(name="Support")  # the superuser fixture makes no one a member; make one
    make_support(phone_number="+447400900111")
    before = group_perms(support)
    response = client.post(f"/admin/auth/group/{support.pk}/change/", {"name": "Support", "permissions": []})
    assert response.status_code == 403
    assert group_perms(support) == before


def test_a_group_manager_grants_only_permissions_they_hold(group_manager):
    _, client, _ = group_manager
    # A new group with a permission they do not hold: refused by the form, nothing created.
    response = client.post("/admin/auth/group/add/", {"name": "Escalate", "permissions": [perm("accounts.change_user").pk]})
    assert response.status_code == 200 and "permissions" in response.context["adminform"].form.errors
    assert not Group.objects.filter(name="Escalate").exists()
    offered = set(response.context["adminform"].form.fields["permissions"].queryset.values_list("codename", flat=True))
    assert offered == {"view_group", "add_group", "change_group", "delete_group", "view_user", "block_user"}
    # One they hold, on a group no staff member is in: fine.
    assert client.post("/admin/auth/group/add/", {"name": "Blockers", "permissions": [perm("accounts.block_user").pk]}).status_code == 302
    blockers = Group.objects.get(name="Blockers")
    assert group_perms(blockers) == ["block_user"]
    # And they cannot then widen it past their own role.
    response = client.post(f"/admin/auth/group/{blockers.pk}/change/", {"name": "Blockers", "permissions": [perm("accounts.delete_user").pk]})
    assert response.status_code == 200 and group_perms(blockers) == ["block_user"]


def test_a_group_holding_more_than_the_manager_is_read_only_to_them(group_manager):
    _, client, _ = group_manager
    wider = group_with("Wider", "accounts.change_user")
    response = client.post(f"/admin/auth/group/{wider.pk}/change/", {"name": "Wider", "permissions": []})
    assert response.status_code == 403 and group_perms(wider) == ["change_user"]


def test_the_add_form_never_makes_staff_for_a_staff_member_who_is_not_a_superuser(db):
    actor = make_actor("everything")
    client = Client()
    client.force_login(actor)
    form = client.get("/admin/accounts/user/add/")
    assert form.status_code == 200
    assert 'name="password1"' not in form.content.decode() and 'name="is_staff"' not in form.content.decode()
    response = client.post("/admin/accounts/user/add/", {
        "phone_number": "07400 555777", "country_id": "GB", "name": "New Person",
        "password1": "a-long-passphrase-for-new", "password2": "a-long-passphrase-for-new",
        "is_staff": "on", "is_superuser": "on", "groups": [Group.objects.get(name="Support").pk],
        "user_permissions": [perm("accounts.change_user").pk],
    })
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(phone_number="+447400555777")
    assert (user.is_staff, user.is_superuser, list(user.groups.all()), list(user.user_permissions.all())) == (False, False, [], [])
    # Nor an account whose password they know (should a superuser make it staff later).
    assert not user.has_usable_password()


def test_a_staff_member_cannot_set_their_own_role_even_with_every_permission(db):
    actor = make_actor("everything")
    client = Client()
    client.force_login(actor)
    data = change_form(client, actor, phone_number=actor.phone_number, name=actor.name)
    assert client.post(user_url(actor, "change/"), data).status_code == 403
    actor = User.objects.get(pk=actor.pk)
    assert not actor.is_superuser and not actor.groups.exists()


# -- every other page the admin registers -----------------------------------------------------------


def _rows_of(superuser: User) -> dict[str, object]:
    """One row of each registered model (other than users and groups, above), all about
    the superuser's account."""
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from accounts.models import StatusHistory
    from tests.factories import OtpFactory

    rows = {
        "accounts.statushistory": StatusHistory.objects.create(user=superuser, status="active", actor_label="test"),
        "sessions_log.loginstate": LoginStateFactory(user=superuser),
        "otp.otp": OtpFactory(user=superuser),
        "admin.logentry": LogEntry.objects.create(
            user=superuser, content_type=ContentType.objects.get_for_model(User), object_id=str(superuser.pk),
            object_repr=str(superuser), action_flag=CHANGE, change_message="x"),
    }
    try:
        from accounts.models import StaffChange
    except ImportError:  # before the audit trail existed
        return rows
    rows["accounts.staffchange"] = StaffChange.objects.create(user=superuser, actor=superuser, field="name")
    return rows


OUR_APPS = {"accounts", "auth", "otp", "sessions_log", "admin"}  # the libraries' pages: at the end


def test_no_other_admin_page_writes_for_a_staff_member_with_every_permission(superuser):
    """Status histories, login states, OTPs, log entries, the audit: read-only to anyone
    who is not a superuser, whatever their permissions (and SocialIdentity has no page)."""
    from django.contrib import admin

    actor = make_actor("everything")
    client = Client()
    client.force_login(actor)
    rows = _rows_of(superuser)
    registered = {m._meta.label_lower for m in admin.site._registry if m._meta.app_label in OUR_APPS}
    # A new admin page must be added here (and be read-only, or say why not).
    # Lockout resets are added by support (tests/admin/test_otp_lockout.py: never on staff,
    # superusers or oneself), never changed or deleted.
    assert registered - {"accounts.user", "auth.group", "otp.otplockoutreset"} == set(rows)
    for label, row in rows.items():
        model = type(row)
        base = f"/admin/{label.replace('.', '/')}/"
        before = model.objects.filter(pk=row.pk).values().get()
        assert client.get(base + "add/").status_code == 403, label
        assert client.post(base + "add/", {}).status_code == 403, label
        assert client.post(f"{base}{row.pk}/change/", {"reason": "x", "status": "revoked"}).status_code == 403, label
        assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403, label
        client.post(base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
        assert model.objects.filter(pk=row.pk).values().get() == before, label
    assert client.get("/admin/accounts/socialidentity/").status_code == 404


@pytest.mark.parametrize("label", ["otp_totp.totpdevice", "otp_static.staticdevice", "axes.accessattempt",
                                   "axes.accesslog", "axes.accessfailurelog"])
def test_second_factor_and_lockout_pages_are_for_superusers_only(superuser, label):
    """A staffer who could add a device to a superuser (or read its key) would sign in as
    them once the password fell; one who could delete a lockout record would lift it."""
    from django.apps import apps
    from django.contrib import admin

    model = apps.get_model(label)
    assert model in admin.site._registry
    actor = make_actor("everything")
    client = Client()
    client.force_login(actor)
    base = f"/admin/{label.replace('.', '/')}/"
    count = model.objects.count()
    for path in (base, base + "add/"):
        assert client.get(path).status_code == 403, path
    client.post(base + "add/", {"user": superuser.pk, "name": "mine", "key": "3132333435363738393031323334353637383930"})
    assert model.objects.count() == count
    assert base not in client.get("/admin/").content.decode()
    root = Client()
    root.force_login(superuser)
    assert root.get(base).status_code == 200


def test_support_cannot_activate_an_unverified_account_by_way_of_blocked(superuser):
    """Found in review: unblock refused, block accepted, then unblock accepted — an active
    account on a phone number nobody verified."""
    squatter = UserFactory(phone_number="+447400555150", status=UserStatus.UNVERIFIED, phone_verified_at=None)
    client = Client()
    client.force_login(make_actor("support"))
    for kind in ("unblock", "block", "unblock"):
        client.post(f"/admin/accounts/user/{squatter.pk}/support/{kind}/", {"apply": "1", "reason": "ticket 9"})
    squatter.refresh_from_db()
    assert squatter.status == UserStatus.BLOCKED and squatter.phone_verified_at is None


# --- what the outside review of issue 12 found ------------------------------------------


def _support_client(client, perms):
    from tests.factories import UserFactory as _UF

    support = _UF(is_staff=True)
    for codename in perms:
        app, _, code = codename.partition(".")
        support.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=code))
    client.force_login(support)
    return support


def test_support_filters_only_by_the_filters_a_page_offers(client):
    from otp.models import Otp
    from otp.services import otp_issue

    owner = UserFactory()
    otp_issue(user_id=owner.pk, purpose="signin", channel="sms", sent_to=owner.phone_number)
    digest = Otp.objects.get(user=owner).otp
    _support_client(client, ["otp.view_otp", "accounts.view_user"])

    # The hidden HMAC column can't be read a character at a time, nor superusers picked out.
    assert client.get(f"/admin/otp/otp/?otp__startswith={digest[:2]}").status_code == 400
    assert client.get("/admin/accounts/user/?is_superuser__exact=1").status_code == 400
    # The filters the pages offer still work.
    assert client.get("/admin/otp/otp/?channel__exact=sms").status_code == 200
    assert client.get("/admin/accounts/user/?status__exact=active&country_id__exact=GB").status_code == 200


def test_a_superuser_still_filters_by_any_field(client):
    boss = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(boss)
    assert client.get("/admin/accounts/user/?is_superuser__exact=1").status_code == 200


def test_support_reads_no_history_page_of_any_model(client):
    from otp.models import OtpLockoutReset

    owner = UserFactory()
    from django.utils import timezone

    reset = OtpLockoutReset.objects.create(user=owner, channel="sms", reason="r", reset_at=timezone.now())
    _support_client(client, ["otp.view_otplockoutreset", "accounts.view_statushistory"])
    assert client.get(f"/admin/otp/otplockoutreset/{reset.pk}/history/").status_code == 403
    history = StatusHistory.objects.record(user=owner, previous_status="unverified", status="active", reason="signup")
    assert client.get(f"/admin/accounts/statushistory/{history.pk}/history/").status_code == 403


def test_support_sees_no_staff_field_changes_and_no_staff_filter(client):
    from accounts.services import staff_change_record

    boss = UserFactory(is_staff=True, is_superuser=True)
    target = UserFactory()
    staff_change_record(user=target, actor=boss, field="is_superuser", old=False, new=True, reason="")
    staff_change_record(user=target, actor=boss, field="password", reason="password set")
    staff_change_record(user=target, actor=boss, field="name", old="A", new="Bea", reason="typo")
    _support_client(client, ["accounts.view_user"])

    page = client.get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    assert "Bea" in page and "typo" in page  # the audit of what support may see stays
    assert "is_superuser" not in page and "password set" not in page
    assert client.get("/admin/accounts/user/?is_staff__exact=1").status_code == 400

    client.force_login(boss)
    page = client.get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    assert "is_superuser" in page and "password set" in page
