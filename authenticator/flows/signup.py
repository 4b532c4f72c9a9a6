"""Sign up with a phone number: start (user unverified, code by SMS), then verify."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import UserStatus, UserType
from accounts.selectors import user_email_taken, user_get_by_phone
from accounts.services import phone_and_country, user_create, user_update_unverified, user_set_status, validation_to_input_error
from otp.delivery import deliver
from otp.models import OtpChannel, OtpPurpose
from otp.services import otp_check, otp_check_decoy, otp_consume, otp_decoy_issue, otp_issue

from .. import metrics
from ..conf import app_settings
from ..errors import EmailTaken
from ..throttling import otp_send_allowed
from .common import Device, OtpSent, SignedIn, sign_in_complete
from .messages import ALREADY_REGISTERED, SUBJECTS, code_message


def signup_start(
    *,
    phone_number: str,
    country_id: str,
    name: str,
    salutation: str | None = None,
    email: str | None = None,
    google_continuation: str | None = None,
    ip: str | None = None,
) -> OtpSent:
    """Create the user as ``unverified`` and send a sign-up code by SMS.

    A number that already has a verified account gets an SMS saying so, and the same
    answer as a new one. A number left unverified gets a fresh code.
    A failed send rolls everything back (DeliveryUnavailable, 503).
    With a Google continuation the account's ``type`` is ``google`` and a Google-verified
    email is used when none is given; the link itself is made at verify.
    """
    type = UserType.PHONE
    if google_continuation:
        from .google import continuation_read

        identity = continuation_read(google_continuation)
        type = UserType.GOOGLE
        if not email and identity.email_verified:
            email = identity.email
    phone, country = phone_and_country(phone_number=phone_number, country_id=country_id)
    otp_send_allowed(identifier=phone, purpose=OtpPurpose.SIGNUP, ip=ip)
    with transaction.atomic():
        user = user_get_by_phone(phone_number=phone)
        # Checked the same way whether or not the number has an account, so the answer
        # does not tell which (only the address's own owner is left out).
        if email and user_email_taken(email=email, exclude_user_id=user.pk if user else None):
            raise EmailTaken()
        if user is not None and user.status != UserStatus.UNVERIFIED:
            deliver(channel=OtpChannel.SMS, to=phone, message=ALREADY_REGISTERED, subject=SUBJECTS["signup"])
            otp_decoy_issue(identifier=phone, purpose=OtpPurpose.SIGNUP, ip=ip)  # verify answers as for a new number
            return _sent(OtpChannel.SMS)
        if user is None:
            user = user_create(
                phone_number=phone, country_id=country, name=name, salutation=salutation, email=email, type=type
            )
        else:
            # Not verified yet: whoever verifies the phone owns the account, and the
            # details of the latest sign-up are the ones they asked for.
            user_update_unverified(user=user, name=name, salutation=salutation, email=email, type=type)
        _otp, code = otp_issue(user_id=user.pk, purpose=OtpPurpose.SIGNUP, channel=OtpChannel.SMS, sent_to=phone, ip=ip)
        deliver(channel=OtpChannel.SMS, to=phone, message=code_message(code=code, purpose="signup"), subject=SUBJECTS["signup"])
        metrics.otp_sent(channel=OtpChannel.SMS, purpose=OtpPurpose.SIGNUP)
    return _sent(OtpChannel.SMS)


def _sent(channel: str) -> OtpSent:
    return OtpSent(channel=channel, expires_in=int(app_settings.OTP_TTL), resend_after=int(app_settings.OTP_RESEND_COOLDOWN))


def signup_verify(*, phone_number: str, code: str, device: Device, google_continuation: str | None = None,
                  country_id: str | None = None) -> SignedIn:
    """Check the sign-up code; the user becomes ``active``, signed in on ``device``.

    With a Google continuation, the Google identity is linked in the same transaction.
    """
    from accounts.validation import normalise_phone

    try:
        phone = normalise_phone(phone_number, (country_id or "").upper() or None)
    except ValidationError as exc:
        raise validation_to_input_error(exc, "phone_number")
    user = user_get_by_phone(phone_number=phone)
    identity = _continuation(google_continuation)

    def check():
        # No pending sign-up (a new number, or one with an account): a decoy's answers,
        # the same as a pending sign-up's code would give.
        if user is None or user.status != UserStatus.UNVERIFIED:
            return otp_check_decoy(identifier=phone, purpose=OtpPurpose.SIGNUP, code=code, ip=device.ip)
        return otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNUP, channel=OtpChannel.SMS, code=code, ip=device.ip)

    def activate(checked) -> None:
        otp_consume(checked=checked)
        user_set_status(user=user, status=UserStatus.ACTIVE, reason="phone verified", actor_label="signup",
                        phone_verified_at=timezone.now())
        if identity is not None:
            from .google import identity_link

            identity_link(user=user, identity=identity)

    return sign_in_complete(user=user, device=device, method="otp_sms", before=activate,
                            check=lambda: metrics.otp_checked(check, channel=OtpChannel.SMS, purpose=OtpPurpose.SIGNUP))


def _continuation(token: str | None):
    if not token:
        return None
    from .google import continuation_read

    return continuation_read(token)
