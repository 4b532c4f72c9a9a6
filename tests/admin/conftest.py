from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User, UserStatus
from tests.factories import UserFactory

SUPPORT_PASSWORD = "support-staff-pass-8391"


def totp_device(user: User) -> TOTPDevice:
    """The staff member's confirmed TOTP device (made on first use)."""
    return (TOTPDevice.objects.filter(user=user, confirmed=True).first()
            or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True))


def totp_code(device: TOTPDevice) -> str:
    """The code the staff member's authenticator app shows now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return str(totp.token()).zfill(device.digits)


def support_group() -> Group:
    """The group accounts migration 0004 creates. A transactional test's flush empties the
    auth tables (permissions come back at once, the group does not): rebuild it the same way."""
    migration = importlib.import_module("accounts.migrations.0004_support_group")
    group, created = Group.objects.get_or_create(name=migration.GROUP)
    if created:
        for app_label, codename in migration.PERMISSIONS:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def make_support(**fields) -> User:
    user = UserFactory(
        phone_number=fields.pop("phone_number", "+447400900001"), country_id="GB", name=fields.pop("name", "Sam Support"),
        is_staff=True, status=UserStatus.ACTIVE, password=SUPPORT_PASSWORD, **fields,
    )
    user.groups.add(support_group())
    return user


@pytest.fixture
def support_user(db) -> User:
    return make_support()


@pytest.fixture
def superuser(db) -> User:
    return UserFactory(phone_number="+447400900009", name="Root Admin", is_staff=True, is_superuser=True, password=SUPPORT_PASSWORD)


@pytest.fixture
def support(support_user) -> Client:
    client = Client()
    client.force_login(support_user)
    return client


@pytest.fixture
def admin_client_(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client
