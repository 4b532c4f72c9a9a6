"""Sign up with a phone number: start (user unverified, code by SMS), then verify."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import UserStatus, UserType
from accounts.selectors import user_get_by_phone, user_made_by_staff
from accounts.services import (
    phone_and_country,
    user_create,
    user_set_status,
    user_update_unverified,
    validation_to_input_error,
)
from accounts.validation import normalise_email
from authenticator.core import metrics
from authenticator.core.background import job, submit_after_response
from authenticator.core.conf import app_settings
from authenticator.core.errors import DeliveryUnavailable, PhoneNumberTaken
from authenticator.core.throttling import otp_send_allowed
from otp.delivery import delivery_attempt, delivery_create, delivery_supersede, mask_recipient, seal
from otp.models import Delivery, DeliveryStatus, OtpChannel, OtpPurpose
from otp.services import (
    otp_check,
    otp_check_decoy,
    otp_consume,
    otp_decoy_issue,
    otp_issue,
)

from .common import OtpSent, Requester, SignedIn, sign_in_complete
from .delivery import send_recorded
from .messages import ALREADY_REGISTERED, SUBJECTS, code_message
from .sms_guard import challenge_up_front, sms_budget_check, sms_destination_check

log = logging.getLogger(__name__)


def signup_start(
    *,
    phone_number: str,
    country_id: str,
    name: str,
    salutation: str | None = None,
    email: str | None = None,
    google_continuation: str | None = None,
    wait: bool = False,
    ip: str | None = None,
    challenge_token: str | None = None,
) -> OtpSent:
    """Accept a sign-up; the account and its code are made after the answer.

    The answer is the same — status, body, headers and time — whatever the number: new,
    pending, active, blocked, suspended or deleted. So the request does only what is the
    same for all of them (validate, throttle, look the number up) and the rest happens
    in the background job (``_signup_send``): a new or pending number gets an unverified
    account and a code, any other an SMS saying it already has an account. An email is
    only a claim until verified, so it never makes the answer differ either.

    After the answer nothing can be told to the caller: a database failure in the job
    rolls it back, a failed send leaves the account pending; both are logged, no code
    arrives and the person asks again after the resend cooldown. With a broker
    (CELERY_BROKER_URL) the job is a worker's task, and a failed send is tried again
    while the code is valid before it counts as failed (the delivery record, in the
    admin, says which); the answer is the same 202 either way, so a provider outage is
    never a 503 here — it could not be without telling which numbers get a code. The lookup is on the
    request path so that a database outage is a 503 for everyone rather than a 202
    whose code never comes.
    ``wait`` runs the job before returning and lets its errors raise (the CLI: an
    operator, not an anonymous caller). ``challenge_token``: a solved challenge, for
    when one is needed (``sms_guard``: the destination, budgets and challenge checks
    run before anything else, the same for every number).
    """
    type = UserType.PHONE
    if google_continuation:
        from .google import continuation_read

        identity = continuation_read(google_continuation)
        type = UserType.GOOGLE
        if not email and identity.email_verified:
            email = identity.email
    phone, country = phone_and_country(phone_number=phone_number, country_id=country_id)
    if email:
        try:
            email = normalise_email(email)
        except ValidationError as exc:
            raise validation_to_input_error(exc, "email") from None
    destination = sms_destination_check(phone=phone)
    challenged = challenge_up_front(token=challenge_token, ip=ip, action="signup", country_id=country)
    otp_send_allowed(identifier=phone, purpose=OtpPurpose.SIGNUP, ip=ip)
    sms_budget_check(phone=phone, country=destination, ip=ip, token=challenge_token, action="signup", challenged=challenged)
    user_get_by_phone(phone_number=phone)  # its answer decides nothing here (see above)
    # "user_name", not "name": the background's submit takes the job's own name as ``name``.
    details = {"phone": phone, "country": country, "user_name": name, "salutation": salutation, "email": email or None,
               "type": type, "ip": ip}
    if wait:
        _signup_send(raise_delivery=True, **details)
    else:
        submit_after_response(signup_code, name="sign-up code", **details)
    metrics.otp_requested(channel=OtpChannel.SMS, purpose=OtpPurpose.SIGNUP)
    return _sent(OtpChannel.SMS)


def _signup_send(*, raise_delivery: bool = False, job_key: str = "", **details: str | None) -> None:
    """The sign-up after the answer: a code for a new or pending number, a notice for any other.

    ``raise_delivery`` (the CLI) sends now, once, and raises ``DeliveryUnavailable`` if
    that fails; otherwise the send is queued (``send_recorded``). ``job_key``: a worker's
    task id, so that a redelivered task finds what it made instead of texting twice."""
    if not delivery_supersede(job_key=job_key):
        return
    try:
        try:
            delivery, message = _signup_write(job_key=job_key, **details)
        except PhoneNumberTaken:  # a concurrent sign-up of the number made the account first: now it is pending
            delivery, message = _signup_write(job_key=job_key, **details)
    except IntegrityError:
        if not job_key:
            raise
        return  # a copy of this job (same key) made its code at the same time
    # Sent once the account and its code are committed, so the code can't arrive before
    # they exist. If the send fails the account stays pending with a code nobody got:
    # the state of someone who never typed theirs; the next sign-up sends a fresh one.
    phone = str(details["phone"])
    if raise_delivery:
        sealed = seal(to=phone, message=message, subject=SUBJECTS["signup"])
        status = delivery_attempt(delivery_id=delivery.pk, sealed=sealed, retry=False).status
    else:
        status = send_recorded(delivery=delivery, to=phone, message=message, subject=SUBJECTS["signup"])
    if status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERABLE):
        if raise_delivery:
            raise DeliveryUnavailable()
        log.warning("sign-up SMS to %s not sent; the account stays pending", mask_recipient(phone))


signup_code = job("authn.signup_code")(_signup_send)


def _signup_write(*, phone: str, country: str, user_name: str, salutation: str | None, email: str | None, type: str,
                  ip: str | None, job_key: str = "") -> tuple[Delivery, str]:
    """Make or refresh the pending account and its code, and the delivery's record; the
    record and the message to send."""
    with transaction.atomic():
        user = user_get_by_phone(phone_number=phone)
        if user is not None and user.status != UserStatus.UNVERIFIED:
            otp_decoy_issue(identifier=phone, purpose=OtpPurpose.SIGNUP, ip=ip)  # verify answers as for a new number
            delivery = delivery_create(user_id=user.pk, purpose=OtpPurpose.SIGNUP, channel=OtpChannel.SMS, to=phone,
                                       job_key=job_key)
            return delivery, ALREADY_REGISTERED
        if user is None:
            user = user_create(
                phone_number=phone, country_id=country, name=user_name, salutation=salutation, email=email, type=type
            )
        elif not user_made_by_staff(user=user):
            # Not verified yet: whoever verifies the phone owns the account, and the
            # details of the latest sign-up are the ones they asked for. An account staff
            # made or changed in the admin keeps the details staff gave it:
            # its phone's owner may still verify it, but a stranger's sign-up of the
            # number rewrites nothing.
            user_update_unverified(user=user, name=user_name, salutation=salutation, email=email, type=type)
        otp, code = otp_issue(user_id=user.pk, purpose=OtpPurpose.SIGNUP, channel=OtpChannel.SMS, sent_to=phone, ip=ip)
        delivery = delivery_create(user_id=user.pk, purpose=OtpPurpose.SIGNUP, channel=OtpChannel.SMS, to=phone, otp=otp,
                                   job_key=job_key)
    return delivery, code_message(code=code, purpose="signup")


def _sent(channel: str) -> OtpSent:
    return OtpSent(channel=channel, expires_in=int(app_settings.OTP_TTL), resend_after=int(app_settings.OTP_RESEND_COOLDOWN))


def signup_verify(*, phone_number: str, code: str, requester: Requester, google_continuation: str | None = None,
                  country_id: str | None = None) -> SignedIn:
    """Check the sign-up code; the user becomes ``active``, signed in as ``requester``.

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
            return otp_check_decoy(identifier=phone, purpose=OtpPurpose.SIGNUP, code=code, ip=requester.ip)
        return otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNUP, channel=OtpChannel.SMS, code=code, ip=requester.ip)

    def activate(checked) -> None:
        otp_consume(checked=checked)
        user_set_status(user=user, status=UserStatus.ACTIVE, reason="phone verified", actor_label="signup",
                        phone_verified_at=timezone.now())
        if identity is not None:
            from .google import identity_link

            identity_link(user=user, identity=identity)

    with metrics.otp_answer_counted(channel=OtpChannel.SMS, purpose=OtpPurpose.SIGNUP):
        return sign_in_complete(user=user, requester=requester, method="otp_sms", check=check, before=activate)


def _continuation(token: str | None):
    if not token:
        return None
    from .google import continuation_read

    return continuation_read(token)
