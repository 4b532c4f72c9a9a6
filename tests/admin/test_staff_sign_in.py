"""Staff sign in to the admin with a password and a second factor, and wrong passwords lock.

Each test posts to the real ``/admin/login/`` (django-otp's admin login form behind
django-axes) and then opens an admin page: what counts is whether the session gets in.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from authenticator.flows.staff_otp import staff_otp_enrol
from tests.factories import UserFactory

from .conftest import SUPPORT_PASSWORD, make_support, totp_code, totp_device

pytestmark = pytest.mark.django_db

PHONE = "+447400900001"
HOME = "203.0.113.7"
ELSEWHERE = "198.51.100.9"
USERS_PAGE = "/admin/accounts/user/"


def sign_in(client: Client, *, username: str = PHONE, password: str = SUPPORT_PASSWORD, device=None,
            code: str | None = None, ip: str = HOME, **headers):
    data = {"username": username, "password": password, "next": USERS_PAGE}
    if device is not None:
        data["otp_device"] = device.persistent_id
    if code is not None:
        data["otp_token"] = code
    return client.post("/admin/login/", data, REMOTE_ADDR=ip, **headers)


def gets_in(client: Client, ip: str = HOME) -> bool:
    response = client.get(USERS_PAGE, REMOTE_ADDR=ip)
    assert response.status_code in (200, 302)
    return response.status_code == 200


def limit() -> int:
    return int(django_settings.AXES_FAILURE_LIMIT)


@pytest.fixture
def staff():
    return make_support(phone_number=PHONE)


def test_the_right_password_alone_asks_for_the_code_and_opens_nothing(staff, client):
    device = totp_device(staff)
    response = sign_in(client)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="otp_device"' in page and device.persistent_id in page and "OTP token" in page
    assert "_auth_user_id" not in client.session
    assert not gets_in(client)


def test_a_session_signed_in_by_password_only_is_refused_by_the_admin(staff, client):
    client.force_login(staff)
    session = client.session
    del session[DEVICE_ID_SESSION_KEY]  # what a password-only sign-in leaves: no verified device
    session.save()
    assert "_auth_user_id" in client.session
    response = client.get(USERS_PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_password_and_the_current_totp_code_open_the_admin_once(staff, client):
    device = totp_device(staff)
    code = totp_code(device)
    response = sign_in(client, device=device, code=code)
    assert response.status_code == 302 and response["Location"] == USERS_PAGE
    assert gets_in(client)

    replay = Client()  # the same code again, e.g. seen over a shoulder: TOTP steps are single-use
    response = sign_in(replay, device=device, code=code)
    assert response.status_code == 200 and "Invalid token" in response.content.decode()
    assert not gets_in(replay)


def test_a_wrong_code_or_another_staff_members_device_does_not_open_it(staff, client):
    device = totp_device(staff)
    other = totp_device(make_support(phone_number="+447400900002", name="Other Staff"))
    wrong = str((int(totp_code(device)) + 1) % 10**6).zfill(6)
    assert sign_in(client, device=device, code=wrong).status_code == 200
    assert sign_in(Client(), device=other, code=totp_code(other)).status_code == 200
    assert not gets_in(client)


def test_wrong_codes_hold_off_that_device_for_longer_each_time(staff, client, settings):
    # Someone with the password still gets few guesses at the code: django-otp waits
    # OTP_TOTP_THROTTLE_FACTOR * 2^(n-1) s after the n-th wrong code (one minute here).
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device = totp_device(staff)
    wrong = str((int(totp_code(device)) + 1) % 10**6).zfill(6)
    assert "Invalid token" in sign_in(client, device=device, code=wrong).content.decode()
    response = sign_in(client, device=device, code=totp_code(device))
    assert response.status_code == 200 and "Verification temporarily disabled" in response.content.decode()
    assert not gets_in(client)


def test_a_backup_code_works_once(staff):
    codes = staff_otp_enrol(user=staff, backup_codes=3).backup_codes
    from django_otp.plugins.otp_static.models import StaticDevice

    backup = StaticDevice.objects.get(user=staff)
    first, second = Client(), Client()
    assert sign_in(first, device=backup, code=codes[0]).status_code == 302 and gets_in(first)
    assert sign_in(second, device=backup, code=codes[1]).status_code == 302 and gets_in(second)
    again = Client()
    response = sign_in(again, device=backup, code=codes[0])
    assert response.status_code == 200 and not gets_in(again)
    assert sorted(backup.token_set.values_list("token", flat=True)) == [codes[2]]


def test_a_staff_member_without_a_device_cannot_get_in(staff, client):
    response = sign_in(client, code="123456")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session and not gets_in(client)


def _lock(client: Client, *, username: str = PHONE, ip: str = HOME, **headers):
    responses = [sign_in(client, username=username, password="wrong-password", ip=ip, **headers) for _ in range(limit())]
    assert [r.status_code for r in responses] == [200] * (limit() - 1) + [429]
    return responses[-1]


def test_wrong_passwords_lock_the_number_at_that_address_only(staff):
    device = totp_device(staff)
    locked = _lock(Client())

    page = locked.content.decode()
    assert "locked from your address" in page and "Try again in 15 minutes" in page
    assert "axes_reset_username" in page  # whom to ask, and what they run
    assert locked["Retry-After"] == str(int(django_settings.AXES_COOLOFF_TIME.total_seconds()))
    assert PHONE not in page  # names no account

    # The right password and code from that address: still the lockout page, no session.
    client = Client()
    response = sign_in(client, device=device, code=totp_code(device))
    assert response.status_code == 429 and not gets_in(client)

    # The owner elsewhere is not kept out.
    elsewhere = Client()
    assert sign_in(elsewhere, device=device, code=totp_code(device), ip=ELSEWHERE).status_code == 302
    assert gets_in(elsewhere, ip=ELSEWHERE)


def test_the_failure_limit_and_cool_off_are_settings(staff, settings):
    from datetime import timedelta

    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    locked = _lock(Client())
    assert locked["Retry-After"] == "60" and "Try again in 1 minute." in locked.content.decode()


def test_respelling_the_phone_number_does_not_buy_more_tries(staff):
    device = totp_device(staff)
    spellings = ["+44 7400 900001", "+44-7400-900-001", "+44 (7400) 900001", "+44.7400.900001", PHONE]
    client = Client()
    statuses = [sign_in(client, username=spellings[i % len(spellings)], password="nope").status_code
                for i in range(limit())]
    assert statuses[-1] == 429
    assert sign_in(Client(), username="+44 7400 900001", device=device, code=totp_code(device)).status_code == 429


def test_x_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_lockout(staff):
    device = totp_device(staff)
    client = Client()
    statuses = [
        sign_in(client, password="wrong-password", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
        for n in range(limit())
    ]
    assert statuses == [200] * (limit() - 1) + [429]
    fresh = Client()
    response = sign_in(fresh, device=device, code=totp_code(device), HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert response.status_code == 429 and not gets_in(fresh, ip=HOME)


def test_behind_a_trusted_proxy_the_lockout_is_per_forwarded_client(staff, settings):
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TRUSTED_PROXIES": [f"{HOME}/32"]}
    device = totp_device(staff)
    _lock(Client(), HTTP_X_FORWARDED_FOR="192.0.2.10")
    assert sign_in(Client(), device=device, code=totp_code(device), HTTP_X_FORWARDED_FOR="192.0.2.10").status_code == 429
    other = Client()
    assert sign_in(other, device=device, code=totp_code(device), HTTP_X_FORWARDED_FOR="192.0.2.11").status_code == 302


@pytest.mark.parametrize("who", ["nobody", "not_staff"])
def test_the_lockout_answers_alike_for_a_number_with_no_staff_account(staff, who):
    other = "+447400900555"
    if who == "not_staff":
        UserFactory(phone_number=other, country_id="GB")
    ours = Client()
    theirs = Client()
    ours_statuses = [sign_in(ours, password="wrong-password").status_code for _ in range(limit() + 1)]
    theirs_statuses = [sign_in(theirs, username=other, password="wrong-password").status_code for _ in range(limit() + 1)]
    assert ours_statuses == theirs_statuses == [200] * (limit() - 1) + [429, 429]

    def body(response) -> str:
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())

    first_ours, first_theirs = sign_in(Client(), password="x", ip=ELSEWHERE), sign_in(Client(), username=other, password="x", ip=ELSEWHERE)
    assert body(first_ours).replace(PHONE, "N") == body(first_theirs).replace(other, "N")
    locked_ours = sign_in(ours, password="wrong-password")
    locked_theirs = sign_in(theirs, username=other, password="wrong-password")
    assert body(locked_ours) == body(locked_theirs)
    assert dict(locked_ours.headers.items()).keys() == dict(locked_theirs.headers.items()).keys()
    assert locked_ours["Retry-After"] == locked_theirs["Retry-After"]


def test_an_operator_lifts_a_lockout_with_axes_reset_username(staff, capsys):
    device = totp_device(staff)
    _lock(Client())
    call_command("axes_reset_username", PHONE)  # the number in E.164, as the lockout keeps it
    assert "attempts removed" in capsys.readouterr().out
    client = Client()
    assert sign_in(client, device=device, code=totp_code(device)).status_code == 302 and gets_in(client)


def test_a_full_sign_in_clears_the_count_for_that_address(staff):
    device = totp_device(staff)
    client = Client()
    for _ in range(limit() - 1):
        assert sign_in(client, password="typo").status_code == 200
    assert sign_in(client, device=device, code=totp_code(device)).status_code == 302
    later = Client()
    for _ in range(limit() - 1):
        assert sign_in(later, password="typo").status_code == 200  # a fresh count, not locked
    assert sign_in(later, password="typo").status_code == 429


def test_recorded_attempts_keep_no_password_or_code(staff):
    from axes.models import AccessAttempt

    sign_in(Client(), password="a-wrong-secret-9921", device=totp_device(staff), code="654321")
    (attempt,) = AccessAttempt.objects.all()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == (PHONE, HOME, 1)
    assert "a-wrong-secret-9921" not in attempt.post_data and "654321" not in attempt.post_data


@pytest.mark.parametrize("username", ["²", "x" * 5000, "+44 7400 900001\x00", "'; --"])
def test_odd_phone_numbers_are_a_failed_sign_in_never_an_error(staff, username):
    assert sign_in(Client(), username=username, password="wrong-password").status_code == 200


def test_the_admin_site_is_the_otp_site_with_every_model_admin_on_it():
    from django.contrib import admin
    from django.urls import reverse
    from django_otp.admin import OTPAdminSite

    assert isinstance(admin.site, OTPAdminSite) and admin.site.name == "admin"
    registered = {f"{model._meta.app_label}.{model.__name__}" for model in admin.site._registry}
    assert {"accounts.User", "otp.Otp", "sessions_log.LoginState", "otp_totp.TOTPDevice",
            "otp_static.StaticDevice", "axes.AccessAttempt"} <= registered
    assert reverse("admin:accounts_user_changelist") == USERS_PAGE
