"""Sign in with a one-time password sent by SMS or email.

The request answers the same — status, body and time — for every identifier: known,
unknown, blocked or unverified. Only the lookup happens before the answer; whether a
code is made and sent is decided in the background. An identifier that gets no code
gets a decoy instead (otp.services), and verify counts its tries against that, so that
verifying answers alike too: ``invalid_otp`` five times then ``too_many_attempts``,
``otp_expired`` once the (decoy) code has run out, whoever the identifier belongs to.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import UserStatus
from authenticator.core import metrics
from authenticator.core.background import job, submit_after_response
from authenticator.core.conf import app_settings
from authenticator.core.throttling import otp_send_allowed
from otp.delivery import delivery_create, delivery_supersede
from otp.models import OtpPurpose
from otp.services import (
    otp_check,
    otp_check_decoy,
    otp_consume,
    otp_decoy_issue,
    otp_issue,
)
from sessions_log.services import login_state_seen_from

from .common import (
    Identifier,
    OtpSent,
    Requester,
    SignedIn,
    sign_in_complete,
    user_assert_can_sign_in,
    user_for_identifier,
)
from .delivery import send_recorded
from .messages import SUBJECTS, code_message
from .sms_guard import challenge_up_front, sms_budget_check, sms_destination_check


def sign_in_otp_request(*, identifier: Identifier, ip: str | None = None, challenge_token: str | None = None) -> OtpSent:
    """``ip``: the client's address; the send limits count per identifier and address.
    ``challenge_token``: a solved challenge, for when one is needed. A code by SMS goes
    through ``sms_guard`` first (destination, challenge, budgets), the same for every number."""
    phone = identifier.kind == "phone"
    destination = sms_destination_check(phone=identifier.value) if phone else ""
    challenged = challenge_up_front(token=challenge_token, ip=ip, action="sign_in")
    user = user_for_identifier(identifier)
    owners = login_state_seen_from(user_id=None if user is None else user.pk, ip=ip)
    sent = OtpSent(channel=identifier.channel, expires_in=int(app_settings.OTP_TTL),
                   resend_after=int(app_settings.OTP_RESEND_COOLDOWN))
    if not otp_send_allowed(identifier=identifier.value, purpose=OtpPurpose.SIGNIN, ip=ip, owners_address=owners):
        return sent  # the number's hourly cap, reached by others: the same answer, nothing sent
    active = user is not None and user.status == UserStatus.ACTIVE
    if phone:  # decided alike for every number; counted only when a text will go
        sms_budget_check(phone=identifier.value, country=destination, ip=ip, token=challenge_token, action="sign_in",
                         challenged=challenged, texts=active)
    # One job of one shape for every identifier: the id and address for an active account,
    # none for any other (unknown or inactive: nothing is sent, a decoy is written). On a
    # broker it is the same task either way, so nothing tells the caller — not even the
    # time a job takes to be queued.
    submit_after_response(
        sign_in_code, name="sign-in code", user_id=user.pk if active else None,
        to=(user.phone_number if identifier.kind == "phone" else user.email) if active else None,
        identifier=identifier.value, channel=identifier.channel, ip=ip,
    )
    metrics.otp_requested(channel=identifier.channel, purpose=OtpPurpose.SIGNIN)
    return sent


@job("authn.sign_in_code")
def sign_in_code(*, user_id: int | None, to: str | None, identifier: str, channel: str, ip: str | None,
                 job_key: str = "") -> None:
    """After the answer: a code and its delivery record for an active account, a decoy for
    any other. ``job_key`` (a worker's task id) makes a redelivered task find what it made."""
    if user_id is None or not to:
        otp_decoy_issue(identifier=identifier, purpose=OtpPurpose.SIGNIN, ip=ip)
        return
    if not delivery_supersede(job_key=job_key):
        return  # a run of this job before made its code, and a sender has it
    try:
        with transaction.atomic():
            otp, code = otp_issue(user_id=user_id, purpose=OtpPurpose.SIGNIN, channel=channel, sent_to=to, ip=ip)
            delivery = delivery_create(user_id=user_id, purpose=OtpPurpose.SIGNIN, channel=channel, to=to, otp=otp,
                                       job_key=job_key)
    except IntegrityError:
        return  # a copy of this job (same key) made its code at the same time
    send_recorded(delivery=delivery, to=to, message=code_message(code=code, purpose="signin"), subject=SUBJECTS["signin"])


def sign_in_otp_verify(*, identifier: Identifier, code: str, requester: Requester, google_continuation: str | None = None) -> SignedIn:
    """Check the code and sign in; a Google continuation is linked once the code is right."""
    identity = None
    if google_continuation:
        from .google import continuation_read

        identity = continuation_read(google_continuation)
    user = user_for_identifier(identifier)
    method = "otp_sms" if identifier.kind == "phone" else "otp_email"

    def check():
        if user is None or user.status != UserStatus.ACTIVE:  # it got a decoy, not a code
            return otp_check_decoy(identifier=identifier.value, purpose=OtpPurpose.SIGNIN, code=code, ip=requester.ip)
        return otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNIN, channel=identifier.channel, code=code, ip=requester.ip)

    def consume(checked) -> None:
        user_assert_can_sign_in(user=user)
        otp_consume(checked=checked)
        if identity is not None:
            from .google import identity_link

            identity_link(user=user, identity=identity)

    with metrics.otp_answer_counted(channel=identifier.channel, purpose=OtpPurpose.SIGNIN):
        return sign_in_complete(user=user, requester=requester, method=method, check=check, before=consume)
