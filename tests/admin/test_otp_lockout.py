"""Support sees why an account's codes are refused, and gives the owner a way back."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from otp.models import OtpLockoutReset, OtpPurpose
from otp.services import otp_check, otp_issue
from tests.factories import UserFactory

from .conftest import make_support

pytestmark = pytest.mark.django_db

PHONE = "+447400123456"


def attacked_to_the_ceiling(user) -> None:
    from django.utils import timezone

    from authenticator.core.errors import InvalidOtp, TooManyAttempts
    from otp.models import Otp

    while True:
        otp, _code = otp_issue(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel="sms", sent_to=user.phone_number)
        if otp.attempts == 5:
            return
        for _ in range(5):
            with pytest.raises((InvalidOtp, TooManyAttempts)):
                otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel="sms", code="0000000")
        Otp.objects.filter(pk=otp.pk).update(expired_at=timezone.now())


@pytest.fixture
def support(client):
    staff = make_support()
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="otp",
                                                          codename__in=["view_otplockoutreset", "add_otplockoutreset"]))
    client.force_login(staff)
    client.staff = staff
    return client


def test_the_users_page_says_how_many_wrong_codes_and_until_when_new_ones_are_locked(support):
    user = UserFactory(phone_number=PHONE)
    attacked_to_the_ceiling(user)
    page = support.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "50/50 wrong sms codes in 30 days, locked until" in page
    listing = support.get(f"/admin/otp/otp/?q={PHONE[1:]}").content.decode()
    assert listing.count(PHONE) >= 1


def test_support_resets_the_count_with_a_reason_and_the_owners_next_code_works(support):
    user = UserFactory(phone_number=PHONE)
    attacked_to_the_ceiling(user)
    answer = support.post("/admin/otp/otplockoutreset/add/",
                          {"user": user.pk, "channel": "sms", "reason": "owner called, ID checked"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    reset = OtpLockoutReset.objects.get()
    assert (reset.user_id, reset.channel, reset.reason, reset.actor_id) == (user.pk, "sms", "owner called, ID checked",
                                                                            support.staff.pk)
    otp, _code = otp_issue(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel="sms", sent_to=PHONE)
    assert otp.attempts == 0
    page = support.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "0/50 wrong sms codes in 30 days" in page


def test_a_reset_needs_a_reason(support):
    user = UserFactory(phone_number=PHONE)
    answer = support.post("/admin/otp/otplockoutreset/add/", {"user": user.pk, "channel": "sms", "reason": ""})
    assert answer.status_code == 200 and "This field is required" in answer.content.decode()
    assert not OtpLockoutReset.objects.exists()


def test_support_cannot_reset_a_staff_account(support):
    other = UserFactory(phone_number="+447400900077", is_staff=True)
    answer = support.post("/admin/otp/otplockoutreset/add/", {"user": other.pk, "channel": "sms", "reason": "because"})
    assert answer.status_code == 403
    assert not OtpLockoutReset.objects.exists()


def test_resets_are_an_audit_nobody_edits_or_deletes(support):
    user = UserFactory(phone_number=PHONE)
    support.post("/admin/otp/otplockoutreset/add/", {"user": user.pk, "channel": "sms", "reason": "owner called"})
    reset = OtpLockoutReset.objects.get()
    assert support.post(f"/admin/otp/otplockoutreset/{reset.pk}/delete/", {"post": "yes"}).status_code == 403
    assert support.post(f"/admin/otp/otplockoutreset/{reset.pk}/change/", {"reason": "x"}).status_code == 403
    assert OtpLockoutReset.objects.get().reason == "owner called"


def test_support_cannot_reset_their_own_account_and_a_reset_is_in_the_users_audit(support):
    assert support.post("/admin/otp/otplockoutreset/add/",
                        {"user": support.staff.pk, "channel": "sms", "reason": "me"}).status_code == 403
    assert not OtpLockoutReset.objects.exists()
    from accounts.models import StaffChange

    user = UserFactory(phone_number=PHONE)
    support.post("/admin/otp/otplockoutreset/add/", {"user": user.pk, "channel": "email", "reason": "owner called"})
    row = StaffChange.objects.get(user=user)
    assert (row.field, row.actor_id, row.reason) == ("otp_lockout_email", support.staff.pk, "owner called")
