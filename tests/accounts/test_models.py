from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import StatusHistory, User, UserStatus
from accounts.selectors import user_get_by_email
from accounts.services import user_create, user_set_status
from accounts.status import By
from authenticator.core.errors import (
    EmailTaken,
    InvalidInput,
    InvalidStatusTransition,
    PhoneNumberTaken,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_tables_have_the_seed_names():
    tables = set(connection.introspection.table_names())
    assert {"users", "status_histories", "otps", "login_states"} <= tables


def test_seed_columns_and_nullability():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_name IN ('users','status_histories','otps','login_states')"
        )
        columns = {(t, c): n == "YES" for t, c, n in cursor.fetchall()}
    required = {
        "users": ["id", "type", "country_id", "phone_number", "name", "status", "level", "created_at", "updated_at"],
        "status_histories": ["id", "user_id", "status", "updated_at"],
        "otps": ["user_id", "otp", "created_at", "expired_at"],
        "login_states": ["user_id", "logged_in_on", "logged_in_from", "status", "logged_in_at"],
    }
    for table, names in required.items():
        for name in names:
            assert columns[(table, name)] is False, f"{table}.{name} must be NOT NULL"
    for table, name in [("users", "salutation"), ("users", "email"), ("login_states", "logged_out_at")]:
        assert columns[(table, name)] is True, f"{table}.{name} must be nullable"


def test_duplicate_phone_in_another_format_is_refused():
    user_create(phone_number="+44 7400 123456", country_id="GB", name="Ann")
    with pytest.raises(PhoneNumberTaken):
        user_create(phone_number="07400 123456", country_id="gb", name="Ann again")
    assert User.objects.filter(phone_number="+447400123456").count() == 1


def test_a_verified_email_differing_only_in_case_is_refused():
    user_create(phone_number="+447400123456", country_id="GB", name="Ann", email="Ann@Example.com",
                email_verified_at=timezone.now())
    with pytest.raises(EmailTaken):
        user_create(phone_number="+447400123457", country_id="GB", name="Bob", email="ann@example.COM",
                    email_verified_at=timezone.now())


def test_database_itself_refuses_case_variant_verified_emails():
    UserFactory(email="Same@example.com", email_verified_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email="same@EXAMPLE.com", email_verified_at=timezone.now())


def test_unverified_claims_on_an_email_block_nobody():
    """Anyone may type any address: a claim is not ownership, so it keeps nobody out."""
    UserFactory(email="same@example.com", email_verified_at=None)
    UserFactory(email="Same@example.com", email_verified_at=None)
    owner = UserFactory(email="SAME@example.com", email_verified_at=timezone.now())
    assert User.objects.filter(email__iexact="same@example.com").count() == 3
    assert user_get_by_email(email="same@example.com") == owner


def test_phone_stored_in_e164_using_country_as_hint():
    user = user_create(phone_number="(415) 555-0123", country_id="us", name="Sam")
    assert user.phone_number == "+14155550123"
    assert user.country_id == "US"


@pytest.mark.parametrize(
    "phone,country,field,code",
    [
        ("+14155550123", "GB", "phone_number", "country_mismatch"),
        ("+447400123456", "XX", "country_id", "invalid_country"),
        ("+447400123456", "G", "country_id", "invalid_country"),
        ("12", "GB", "phone_number", "invalid_phone_number"),
        ("not a number", "GB", "phone_number", "invalid_phone_number"),
        ("+44740012345678901234567890123456789", "GB", "phone_number", "invalid_phone_number"),
        ("+447400\x00123456", "GB", "phone_number", "invalid_phone_number"),
    ],
)
def test_bad_phone_or_country_is_a_field_error(phone, country, field, code):
    with pytest.raises(InvalidInput) as info:
        user_create(phone_number=phone, country_id=country, name="X")
    assert info.value.extra["errors"][field][0]["code"] == code
    assert not User.objects.exists()


def test_non_ascii_digits_mean_the_same_number():
    arabic = "+٤٤٧٤٠٠١٢٣٤٥٦"
    fullwidth = "＋４４７４００１２３４５６"
    assert user_create(phone_number=arabic, country_id="GB", name="A").phone_number == "+447400123456"
    with pytest.raises(PhoneNumberTaken):
        user_create(phone_number=fullwidth, country_id="GB", name="B")


def test_create_writes_first_status_history():
    user = user_create(phone_number="+447400123456", country_id="GB", name="Ann")
    (row,) = StatusHistory.objects.filter(user=user)
    assert (row.previous_status, row.status) == (None, UserStatus.UNVERIFIED)


def test_status_change_writes_history_with_previous_reason_and_actor():
    staff = UserFactory(is_staff=True)
    user = UserFactory(status=UserStatus.ACTIVE)
    user_set_status(user=user, status=UserStatus.BLOCKED, by=By.SUPPORT, reason="fraud report", actor=staff)
    user.refresh_from_db()
    assert user.status == UserStatus.BLOCKED
    row = StatusHistory.objects.filter(user=user).latest("updated_at")
    assert (row.previous_status, row.status, row.reason, row.actor_id) == ("active", "blocked", "fraud report", staff.pk)


def test_status_change_and_history_roll_back_together():
    user = UserFactory(status=UserStatus.ACTIVE)
    with pytest.raises(RuntimeError), transaction.atomic():
        user_set_status(user=user, status=UserStatus.SUSPENDED, by=By.OPERATOR, reason="x")
        raise RuntimeError("later step failed")
    user.refresh_from_db()
    assert user.status == UserStatus.ACTIVE
    assert not StatusHistory.objects.filter(user=user, status=UserStatus.SUSPENDED).exists()


def test_forbidden_transition_is_refused_without_history():
    user = UserFactory(status=UserStatus.DELETED)
    with pytest.raises(InvalidStatusTransition):
        user_set_status(user=user, status=UserStatus.ACTIVE, by=By.OPERATOR)
    assert not StatusHistory.objects.filter(user=user).exists()


def test_ids_are_sonyflake_sized_and_grow():
    first = UserFactory()
    second = UserFactory()
    assert 2**40 < first.pk < second.pk < 2**63


def test_non_staff_users_have_unusable_passwords():
    user = user_create(phone_number="+447400123456", country_id="GB", name="Ann")
    assert not user.has_usable_password()


def test_createsuperuser_with_custom_user_model(monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-admin-passphrase")
    call_command(
        "createsuperuser", interactive=False, phone_number="07400 111222", country_id="GB", name="Admin",
        verbosity=0,
    )
    admin = User.objects.get(phone_number="+447400111222")
    assert admin.is_superuser and admin.is_staff and admin.is_active
    assert admin.check_password("a-long-admin-passphrase")
