"""Sign in with a one-time password sent by SMS or email.

The request answers the same — status, body and time — for every identifier: known,
unknown, blocked or unverified. Only the lookup happens before the answer; whether a
code is made and sent is decided in the background.
"""

from __future__ import annotations

from accounts.models import User, UserStatus
from otp.delivery import deliver
from otp.models import OtpPurpose
from otp.services import otp_check, otp_consume, otp_issue

from .. import metrics
from ..background import submit_after_response
from ..conf import app_settings
from ..errors import InvalidOtp
from ..throttling import otp_send_allowed
from .common import Device, Identifier, OtpSent, SignedIn, sign_in_complete, user_assert_can_sign_in, user_for_identifier
from .messages import SUBJECTS, code_message


def sign_in_otp_request(*, identifier: Identifier) -> OtpSent:
    otp_send_allowed(identifier=identifier.value, purpose=OtpPurpose.SIGNIN)
    user = user_for_identifier(identifier)
    user_id = user.pk if user is not None and user.status == UserStatus.ACTIVE else None
    submit_after_response(lambda: _send_sign_in_code(user_id=user_id, identifier=identifier), name="sign-in code")
    return OtpSent(
        channel=identifier.channel,
        expires_in=int(app_settings.OTP_TTL),
        resend_after=int(app_settings.OTP_RESEND_COOLDOWN),
    )


def _send_sign_in_code(*, user_id: int | None, identifier: Identifier) -> None:
    if user_id is None:
        return  # unknown or inactive: nothing is sent, nothing tells the caller
    user = User.objects.get(pk=user_id)
    to = user.phone_number if identifier.kind == "phone" else user.email
    _otp, code = otp_issue(user=user, purpose=OtpPurpose.SIGNIN, channel=identifier.channel, sent_to=to)
    deliver(
        channel=identifier.channel,
        to=to,
        message=code_message(code=code, purpose="signin"),
        subject=SUBJECTS["signin"],
    )
    metrics.otp_sent(channel=identifier.channel, purpose=OtpPurpose.SIGNIN)


def sign_in_otp_verify(*, identifier: Identifier, code: str, device: Device, google_continuation: str | None = None) -> SignedIn:
    """Check the code and sign in; a Google continuation is linked once the code is right."""
    identity = None
    if google_continuation:
        from .google import continuation_read

        identity = continuation_read(google_continuation)
    user = user_for_identifier(identifier)
    if user is None:
        raise InvalidOtp()
    method = "otp_sms" if identifier.kind == "phone" else "otp_email"

    def check():
        checked = metrics.otp_checked(lambda: otp_check(user_id=user.pk, purpose=OtpPurpose.SIGNIN, code=code),
                                      channel=identifier.channel, purpose=OtpPurpose.SIGNIN)
        if checked.channel != identifier.channel:  # a code sent by SMS is not an email code
            raise InvalidOtp()
        return checked

    def consume(checked) -> None:
        user_assert_can_sign_in(user=user)
        otp_consume(checked=checked)
        if identity is not None:
            from .google import identity_link

            identity_link(user=user, identity=identity)

    return sign_in_complete(user=user, device=device, method=method, check=check, before=consume)
