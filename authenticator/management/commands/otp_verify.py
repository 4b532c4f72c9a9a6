"""``otp_verify``: the same command as ``signin`` under the REST call's name (``/auth/otp/verify``)."""

from __future__ import annotations

from .signin import Command as SignInCommand


class Command(SignInCommand):
    pass
