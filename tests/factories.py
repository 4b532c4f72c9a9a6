from __future__ import annotations

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.models import StatusHistory, User, UserStatus, UserType
from otp.models import Otp, OtpChannel, OtpPurpose
from sessions_log.models import LoginState, LoginStatus


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User

    type = UserType.PHONE
    country_id = "GB"
    phone_number = factory.Sequence(lambda n: f"+447400{100000 + n % 900000:06d}")
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    email_verified_at = factory.LazyFunction(timezone.now)
    phone_verified_at = factory.LazyFunction(timezone.now)
    status = UserStatus.ACTIVE
    password = factory.django.Password(None)


class StatusHistoryFactory(DjangoModelFactory[StatusHistory]):
    class Meta:
        model = StatusHistory

    user = factory.SubFactory(UserFactory)
    status = UserStatus.ACTIVE
    previous_status = UserStatus.UNVERIFIED
    actor_label = "test"


class OtpFactory(DjangoModelFactory[Otp]):
    class Meta:
        model = Otp

    user = factory.SubFactory(UserFactory)
    otp = "0" * 64
    purpose = OtpPurpose.SIGNIN
    channel = OtpChannel.SMS
    sent_to = factory.SelfAttribute("user.phone_number")
    expired_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(minutes=5))


class LoginStateFactory(DjangoModelFactory[LoginState]):
    class Meta:
        model = LoginState

    user = factory.SubFactory(UserFactory)
    logged_in_on = "ios"
    logged_in_from = "GB"
    logged_in_ip = "81.2.69.160"
    status = LoginStatus.ACTIVE
