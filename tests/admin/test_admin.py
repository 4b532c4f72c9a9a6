"""The support staff's admin: who sees what, search, the user's page, and the actions."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.models import SocialIdentity, StatusHistory, User, UserStatus
from authenticator.core.errors import InvalidToken
from authenticator.flows.common import sign_in_complete
from authenticator.tokenizer import tokenizer
from sessions_log.models import LoginState, LoginStatus
from sessions_log.services import Requester
from tests.factories import LoginStateFactory, OtpFactory, UserFactory

from .conftest import make_support

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/user/"


def page(user: User) -> str:
    return f"/admin/accounts/user/{user.pk}/change/"


def action_url(user: User, kind: str) -> str:
    return f"/admin/accounts/user/{user.pk}/support/{kind}/"


def signed_in(user: User, platform: str = "ios 18"):
    return sign_in_complete(user=user, requester=Requester(platform=platform, ip="81.2.69.160", user_agent="app/1"), method="otp_sms")


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def history(user: User) -> list[tuple]:
    return list(StatusHistory.objects.filter(user=user).order_by("updated_at", "id").values_list("previous_status", "status", "reason", "actor_id", "actor_label"))


# -- who sees what ----------------------------------------------------------------------------


def test_support_group_has_view_and_action_permissions_only():
    group = Group.objects.get(name="Support")
    assert sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()) == [
        "accounts.block_user",
        "accounts.set_level",
        "accounts.signout_user",
        "accounts.view_socialidentity",
        "accounts.view_statushistory",
        "accounts.view_user",
        "otp.add_otplockoutreset",  # the owner's way back past the wrong-code ceiling (otp 0004)
        "otp.view_delivery",  # "I never got the code" (otp 0005)
        "otp.view_otp",
        "otp.view_otplockoutreset",
        "sessions_log.view_loginstate",
    ]


def test_support_staff_see_only_accounts_otps_and_login_states(support):
    response = support.get("/admin/")
    assert response.status_code == 200
    models = {(app["app_label"], m["object_name"]) for app in response.context["app_list"] for m in app["models"]}
    assert models == {
        ("accounts", "User"), ("accounts", "StatusHistory"), ("otp", "Otp"), ("sessions_log", "LoginState"),
        ("otp", "OtpLockoutReset"),
    }
    # Adding a lockout reset is an action (service layer, with a reason, audited), like blocking.
    assert all(not (m["perms"]["add"] and m["object_name"] != "OtpLockoutReset") and not m["perms"]["change"]
               and not m["perms"]["delete"] for app in response.context["app_list"] for m in app["models"])
    assert support.get("/admin/auth/group/").status_code == 403
    assert support.get("/admin/admin/logentry/").status_code == 403


def test_people_who_are_not_staff_cannot_open_the_admin():
    client = Client()
    client.force_login(UserFactory())
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_support_staff_cannot_edit_a_user_directly(support):
    user = UserFactory(name="Ann")
    response = support.post(page(user), {"name": "Changed", "phone_number": user.phone_number, "country_id": "GB"})
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.name == "Ann"


def test_support_staff_do_not_see_staff_fields_superusers_do(support, admin_client_):
    user = UserFactory()
    assert b'name="groups"' not in support.get(page(user)).content
    assert b"user_permissions" not in support.get(page(user)).content
    assert b'name="groups"' in admin_client_.get(page(user)).content


# -- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["+447400123456", "+44 7400 123456", "07400 123456", "07400-123-456", "(07400) 123456", "0044 7400 123456", "447400123456"],
)
def test_search_finds_a_user_by_phone_number_in_any_common_format(support, typed):
    wanted = UserFactory(phone_number="+447400123456")
    UserFactory(phone_number="+447400123457")
    response = support.get(CHANGELIST, {"q": typed})
    assert [u.pk for u in response.context["cl"].result_list] == [wanted.pk]


def test_local_numbers_are_read_in_the_configured_regions_too(support, settings):
    wanted = UserFactory(phone_number="+4915112345678", country_id="DE")
    assert list(support.get(CHANGELIST, {"q": "0151 12345678"}).context["cl"].result_list) == []
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "ADMIN_PHONE_REGIONS": ["DE"]}
    assert [u.pk for u in support.get(CHANGELIST, {"q": "0151 12345678"}).context["cl"].result_list] == [wanted.pk]


def test_search_finds_by_email_name_and_id(support):
    ann = UserFactory(name="Ann Lee", email="ann.lee@example.com")
    bob = UserFactory(name="Bob Stone", email="bob@example.com")

    def found(q):
        return [u.pk for u in support.get(CHANGELIST, {"q": q}).context["cl"].result_list]

    assert found("ANN.LEE@example.com") == [ann.pk]
    assert found("stone") == [bob.pk]
    assert found(str(bob.pk)) == [bob.pk]


# -- a user's page ------------------------------------------------------------------------------


def test_user_page_shows_history_sessions_recent_otps_and_identities_never_codes(support):
    user = UserFactory(name="Ann Lee")
    StatusHistory.objects.create(user=user, previous_status="unverified", status="active", reason="phone verified", actor_label="signup")
    LoginStateFactory(user=user, logged_in_on="Pixel 9 / android 15", logged_in_from="Cambridge, GB", logged_in_ip="81.2.69.160")
    otp_hash = "9f" * 32
    OtpFactory(user=user, otp=otp_hash, purpose="signin", channel="sms", attempts=3)
    SocialIdentity.objects.create(user=user, provider="google.com", uid="google-uid-4711", email="ann@gmail.com")

    response = support.get(page(user))
    assert response.status_code == 200
    html = response.content.decode()
    for shown in ("phone verified", "Pixel 9 / android 15", "Cambridge, GB", "81.2.69.160", "google-uid-4711", "Recent OTPs", "Linked identities"):
        assert shown in html, shown
    assert otp_hash not in html
    otp_rows = response.context["inline_admin_formsets"][2].formset.queryset
    assert [(o.channel, o.purpose, o.attempts) for o in otp_rows] == [("sms", "signin", 3)]
    # Nothing on the page is editable for support staff.
    assert 'name="name"' not in html and 'name="status"' not in html


def test_user_page_lists_only_the_most_recent_login_states_and_otps(support):
    user = UserFactory()
    LoginStateFactory.create_batch(55, user=user)
    OtpFactory.create_batch(25, user=user)
    formsets = support.get(page(user)).context["inline_admin_formsets"]
    assert [len(f.formset.forms) for f in formsets[1:3]] == [50, 20]


def test_user_page_offers_the_actions_the_staff_member_may_take(support, db):
    user = UserFactory()
    html = support.get(page(user)).content.decode()
    for kind in ("block", "suspend", "unblock", "signout", "set_level"):
        assert action_url(user, kind) in html
    viewer = make_support(phone_number="+447400900002")
    viewer.groups.clear()
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client = Client()
    client.force_login(viewer)
    assert action_url(user, "block") not in client.get(page(user)).content.decode()
    assert client.get(action_url(user, "block")).status_code == 403
    assert client.post(action_url(user, "block"), {"apply": "1", "reason": "x"}).status_code == 403
    assert User.objects.get(pk=user.pk).status == UserStatus.ACTIVE


# -- actions on one user ------------------------------------------------------------------------------


def test_block_asks_for_a_reason_then_blocks_revokes_sessions_and_audits(support, support_user):
    user = UserFactory(status=UserStatus.ACTIVE)
    first, second = signed_in(user, "ios 18"), signed_in(user, "android 15")

    form = support.get(action_url(user, "block"))
    assert form.status_code == 200 and b'name="reason"' in form.content
    refused = support.post(action_url(user, "block"), {"apply": "Block", "reason": ""})
    assert refused.status_code == 200 and refused.context["form"].errors == {"reason": ["This field is required."]}
    assert User.objects.get(pk=user.pk).status == UserStatus.ACTIVE

    done = support.post(action_url(user, "block"), {"apply": "Block", "reason": "fraud report #12"}, follow=True)
    assert done.redirect_chain == [(page(user), 302)]
    assert messages_of(done) == ["Blocked 1 user(s)."]
    assert User.objects.get(pk=user.pk).status == UserStatus.BLOCKED
    assert history(user)[-1] == ("active", "blocked", "fraud report #12", support_user.pk, "admin")
    assert set(LoginState.objects.filter(user=user).values_list("status", flat=True)) == {LoginStatus.REVOKED}
    for pair in (first.tokens, second.tokens):
        assert tokenizer().introspect(token=pair.access_token).active is False
        with pytest.raises(InvalidToken):
            tokenizer().refresh(refresh_token=pair.refresh_token)
    entry = LogEntry.objects.get(object_id=str(user.pk))
    assert (entry.user_id, entry.action_flag, entry.change_message) == (
        support_user.pk, CHANGE, "Status active → blocked. Reason: fraud report #12")
    # The status history on the user's page shows who did it.
    assert "fraud report #12" in done.content.decode()


def test_unblock_and_suspend_record_the_staff_member(support, support_user):
    user = UserFactory(status=UserStatus.BLOCKED)
    support.post(action_url(user, "unblock"), {"apply": "1", "reason": "appeal accepted"})
    support.post(action_url(user, "suspend"), {"apply": "1", "reason": "chargeback pending"})
    assert User.objects.get(pk=user.pk).status == UserStatus.SUSPENDED
    assert history(user)[-2:] == [
        ("blocked", "active", "appeal accepted", support_user.pk, "admin"),
        ("active", "suspended", "chargeback pending", support_user.pk, "admin"),
    ]
    assert LogEntry.objects.filter(object_id=str(user.pk)).count() == 2


def test_a_transition_that_is_not_allowed_changes_nothing_and_says_why(support):
    user = UserFactory(status=UserStatus.BLOCKED)
    response = support.post(action_url(user, "suspend"), {"apply": "1", "reason": "x"}, follow=True)
    assert messages_of(response) == [f"{user}: Cannot change status from blocked to suspended. Nothing changed."]
    assert User.objects.get(pk=user.pk).status == UserStatus.BLOCKED
    assert not LogEntry.objects.exists()


def test_support_cannot_activate_an_account_whose_phone_nobody_verified(support):
    user = UserFactory(status=UserStatus.UNVERIFIED, phone_verified_at=None)
    response = support.post(action_url(user, "unblock"), {"apply": "1", "reason": "asked nicely"}, follow=True)
    assert messages_of(response) == [f"{user}: An account becomes active only once its phone number is verified. Nothing changed."]
    assert User.objects.get(pk=user.pk).status == UserStatus.UNVERIFIED
    assert not StatusHistory.objects.filter(user=user).exists()


def test_a_superuser_may_activate_a_staff_account_nobody_verified(admin_client_, superuser):
    """Staff sign in by password and second factor, not by phone (accounts/status.py)."""
    hire = UserFactory(phone_number="+447400900021", status=UserStatus.UNVERIFIED, phone_verified_at=None, is_staff=True)
    admin_client_.post(action_url(hire, "unblock"), {"apply": "1", "reason": "new support hire"})
    assert User.objects.get(pk=hire.pk).status == UserStatus.ACTIVE
    assert history(hire) == [("unverified", "active", "new support hire", superuser.pk, "admin")]


def test_blocking_a_blocked_user_is_reported_not_repeated(support):
    user = UserFactory(status=UserStatus.BLOCKED)
    response = support.post(action_url(user, "block"), {"apply": "1", "reason": "again"}, follow=True)
    assert messages_of(response) == [f"{user}: already blocked; nothing changed."]
    assert not StatusHistory.objects.filter(user=user).exists()
    assert not LogEntry.objects.exists()


def test_when_the_tokenizer_is_down_blocking_changes_nothing(support, settings):
    user = UserFactory(status=UserStatus.ACTIVE)
    state = signed_in(user).session
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TOKENIZER_URL": "http://127.0.0.1:9", "TOKENIZER_API_KEY": "k", "TOKENIZER_RETRIES": 0}
    response = support.post(action_url(user, "block"), {"apply": "1", "reason": "fraud"}, follow=True)
    assert messages_of(response) == [f"{user}: The token service is unavailable; try again shortly. Nothing changed."]
    assert User.objects.get(pk=user.pk).status == UserStatus.ACTIVE
    assert LoginState.objects.get(pk=state.pk).status == LoginStatus.ACTIVE
    assert not LogEntry.objects.exists()


def test_sign_out_everywhere_revokes_at_the_tokenizer_and_keeps_the_status(support, support_user):
    user = UserFactory(status=UserStatus.ACTIVE)
    signed = signed_in(user)
    response = support.post(action_url(user, "signout"), {"apply": "1", "reason": "lost phone"}, follow=True)
    assert messages_of(response) == ["Signed out 1 user(s)."]
    assert User.objects.get(pk=user.pk).status == UserStatus.ACTIVE
    assert LoginState.objects.get(pk=signed.session.pk).status == LoginStatus.REVOKED
    assert tokenizer().introspect(token=signed.tokens.access_token).active is False
    assert LogEntry.objects.get(object_id=str(user.pk)).change_message == (
        "Signed out everywhere (1 active session(s) revoked). Reason: lost phone")


def test_set_level_changes_level_keeps_tier_and_audits(support, support_user):
    user = UserFactory(tier=2, level=1)
    invalid = support.post(action_url(user, "set_level"), {"apply": "1", "level": "0"})
    assert "level" in invalid.context["form"].errors
    support.post(action_url(user, "set_level"), {"apply": "1", "level": "3", "reason": "KYC passed"})
    user.refresh_from_db()
    assert (user.tier, user.level) == (2, 3)
    assert LogEntry.objects.get(object_id=str(user.pk)).change_message == "Tier/level 2/1 → 2/3. Reason: KYC passed"


def test_support_staff_cannot_act_on_staff_or_themselves(support, support_user, superuser):
    other_staff = make_support(phone_number="+447400900003")
    for target in (other_staff, superuser, support_user):
        support.post(action_url(target, "block"), {"apply": "1", "reason": "x"})
        assert User.objects.get(pk=target.pk).status == UserStatus.ACTIVE
    assert not LogEntry.objects.exists()


def test_a_superuser_can_act_on_staff_accounts(admin_client_, superuser, support_user):
    admin_client_.post(action_url(support_user, "suspend"), {"apply": "1", "reason": "left the team"})
    assert User.objects.get(pk=support_user.pk).status == UserStatus.SUSPENDED
    assert history(support_user)[-1] == ("active", "suspended", "left the team", superuser.pk, "admin")


# -- bulk actions ---------------------------------------------------------------------------------


def test_bulk_block_shows_the_selection_then_blocks_each_and_audits_each(support, support_user):
    ann, bob, cid = UserFactory(name="Ann"), UserFactory(name="Bob"), UserFactory(name="Cid")
    sessions = {u.pk: signed_in(u).tokens for u in (ann, bob)}
    chosen = {"action": "block_users", "_selected_action": [ann.pk, bob.pk]}

    confirm = support.post(CHANGELIST, {**chosen, "index": "0"})
    assert confirm.status_code == 200
    assert [u.pk for u in confirm.context["users"]] == sorted([ann.pk, bob.pk])
    assert b'name="reason"' in confirm.content

    done = support.post(CHANGELIST, {**chosen, "apply": "Block", "reason": "spam ring"}, follow=True)
    assert done.redirect_chain[-1][0].startswith(CHANGELIST)
    assert messages_of(done) == ["Blocked 2 user(s)."]
    assert {u.pk: u.status for u in User.objects.filter(pk__in=[ann.pk, bob.pk, cid.pk])} == {
        ann.pk: "blocked", bob.pk: "blocked", cid.pk: "active"}
    for user in (ann, bob):
        assert history(user)[-1] == ("active", "blocked", "spam ring", support_user.pk, "admin")
        assert tokenizer().introspect(token=sessions[user.pk].access_token).active is False
    assert sorted(LogEntry.objects.values_list("object_id", flat=True)) == sorted([str(ann.pk), str(bob.pk)])


def test_bulk_actions_offered_follow_permissions(support, db):
    choices = {name for name, _ in support.get(CHANGELIST).context["action_form"].fields["action"].choices}
    assert choices == {"", "block_users", "suspend_users", "unblock_users", "signout_users", "set_level_users"}
    viewer = make_support(phone_number="+447400900004")
    viewer.groups.clear()
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"), Permission.objects.get(codename="signout_user"))
    client = Client()
    client.force_login(viewer)
    choices = {name for name, _ in client.get(CHANGELIST).context["action_form"].fields["action"].choices}
    assert choices == {"", "signout_users"}


def test_user_page_lists_the_latest_deliveries_with_their_status_and_never_the_code(support):
    """"I never got the code": support sees each message's status, tries and last error."""
    import re

    from otp.delivery import delivery_attempt, delivery_create, seal
    from otp.models import Delivery
    from otp.services import otp_issue

    user = UserFactory(phone_number="+447400123999")
    for _ in range(22):  # older messages: past the latest 20
        delivery_create(user_id=user.pk, purpose="signup", channel="sms", to=user.phone_number)
    otp, code = otp_issue(user_id=user.pk, purpose="signin", channel="sms", sent_to=user.phone_number)
    sent = delivery_create(user_id=user.pk, purpose="signin", channel="sms", to=user.phone_number, otp=otp)
    delivery_attempt(delivery_id=sent.pk, sealed=seal(to=user.phone_number, message=f"Your code is {code}", subject="s"))
    failed = delivery_create(user_id=user.pk, purpose="signin", channel="sms", to=user.phone_number, otp=otp)
    Delivery.objects.filter(pk=failed.pk).update(status="failed", attempts=7,
                                                 last_error="gave up after 7 tries, the code expires: SMS gateway answered HTTP 503")

    response = support.get(page(user))
    assert response.status_code == 200
    html = response.content.decode()
    (deliveries,) = [f for f in response.context["inline_admin_formsets"] if f.formset.model is Delivery]
    assert len(deliveries.formset.forms) == 20  # the latest only
    for shown in ("Latest deliveries", "+*********999", "gave up after 7 tries", "outbox"):
        assert shown in html, shown
    assert code not in re.sub(r"\d{7,}", "", html)  # ids are long numbers; the code never shows
    rows = [form.instance for form in deliveries.formset.forms]
    assert [(r.status, r.attempts) for r in rows[:2]] == [("failed", 7), ("sent", 1)]  # newest first
    assert {r.to_masked for r in rows} == {"+*********999"}
    assert set(deliveries.formset.forms[0].fields) == {"id", "user"}  # read-only: only the formset's keys
    assert 'name="deliveries-0-status"' not in html
