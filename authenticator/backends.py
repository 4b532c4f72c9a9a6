"""A Django authentication backend for one-time passwords.

``django.contrib.auth.authenticate(request, phone_number=..., otp=...)`` (or ``email=``)
runs the sign-in flow: the code is checked, a login state opened, and the Tokenizer
asked for tokens; the returned user carries the result as ``user.sign_in``. Domain
errors (wrong code, lockout, blocked account, Tokenizer down) propagate to the caller.
"""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

from accounts.models import User, UserStatus
from sessions_log.services import Device


class OtpBackend(BaseBackend):
    def authenticate(self, request, phone_number: str | None = None, email: str | None = None,
                     otp: str | None = None, device: str = "", **kwargs):
        if otp is None or (phone_number is None and email is None):
            return None  # not for this backend
        from .flows.common import identifier_parse
        from .flows.sign_in_otp import sign_in_otp_verify

        meta = getattr(request, "META", {}) if request is not None else {}
        result = sign_in_otp_verify(
            identifier=identifier_parse(phone_number=phone_number, email=email),
            code=otp,
            device=Device(platform=device, ip=meta.get("REMOTE_ADDR"), user_agent=meta.get("HTTP_USER_AGENT", "")),
        )
        result.user.sign_in = result
        return result.user

    def get_user(self, user_id):
        return User.objects.filter(pk=user_id, status=UserStatus.ACTIVE).first()
