"""Read and update one's own profile. A new email counts only once its code is verified."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import (
    user_set_email,
    user_update_profile,
    validation_to_input_error,
)
from accounts.validation import normalise_email
from authenticator.core import metrics
from authenticator.core.throttling import otp_send_allowed
from authenticator.core.errors import DeliveryUnavailable
from otp.delivery import delivery_attempt, delivery_create, seal
from otp.models import DeliveryStatus, OtpChannel, OtpPurpose
from otp.services import otp_check, otp_consume, otp_issue

from .messages import SUBJECTS, code_message

_UNSET = object()


@dataclass(frozen=True)
class ProfileUpdated:
    user: User
    email_pending: str | None = None


def profile_update(*, user: User, name: str | None = None, salutation=_UNSET, email: str | None = None) -> ProfileUpdated:
    pending = None
    if email is not None:
        try:
            email = normalise_email(email)
        except ValidationError as exc:
            raise validation_to_input_error(exc, "email")
        if email.lower() != (user.email or "").lower() or user.email_verified_at is None:
            # Per account (a minute apart, OTP_MAX_PER_HOUR an hour, whatever the addresses:
            # a signed-in user can't make us mail the world), and per address across
            # accounts (one user can't keep an address's owner from verifying it).
            account = f"account:{user.pk}"
            otp_send_allowed(identifier=account, purpose=OtpPurpose.VERIFY_EMAIL)
            otp_send_allowed(identifier=email, purpose=OtpPurpose.VERIFY_EMAIL, ip=account)
            # Whether another account has verified the address is told only at verify,
            # after the right code: only the address's owner ever learns it.
            # Sent now, once, and a failure is the caller's 503: a signed-in user changing
            # their own address is told at once (no enumeration to guard here), and the
            # delivery record shows support what happened.
            with transaction.atomic():
                otp, code = otp_issue(user_id=user.pk, purpose=OtpPurpose.VERIFY_EMAIL, channel=OtpChannel.EMAIL,
                                      sent_to=email)
                delivery = delivery_create(user_id=user.pk, purpose=OtpPurpose.VERIFY_EMAIL, channel=OtpChannel.EMAIL,
                                           to=email, otp=otp)
            sealed = seal(to=email, message=code_message(code=code, purpose="verify_email"),
                          subject=SUBJECTS["verify_email"])
            if delivery_attempt(delivery_id=delivery.pk, sealed=sealed, retry=False).status != DeliveryStatus.SENT:
                raise DeliveryUnavailable()
            metrics.otp_requested(channel=OtpChannel.EMAIL, purpose=OtpPurpose.VERIFY_EMAIL)
            pending = email
    user_update_profile(
        user=user,
        name=name,
        salutation=None if salutation is _UNSET else salutation,
        clear_salutation=salutation is None,
    )
    return ProfileUpdated(user=user, email_pending=pending)


def profile_verify_email(*, user: User, code: str) -> User:
    """Make the address the code went to the user's, verified; EmailTaken (409) if another
    account verified it in the meantime — told only now, after the right code."""

    with metrics.otp_answer_counted(channel=OtpChannel.EMAIL, purpose=OtpPurpose.VERIFY_EMAIL):
        checked = otp_check(user_id=user.pk, purpose=OtpPurpose.VERIFY_EMAIL, channel=OtpChannel.EMAIL, code=code)
        with transaction.atomic():
            otp_consume(checked=checked)
            user_set_email(user=user, email=checked.sent_to, verified_at=timezone.now())
    return user
