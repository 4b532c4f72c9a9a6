from __future__ import annotations

from authenticator.core.conf import app_settings

SUBJECTS = {
    "signup": "Your sign-up code",
    "signin": "Your sign-in code",
    "verify_email": "Confirm your email address",
}


def code_message(*, code: str, purpose: str) -> str:
    minutes = max(1, int(app_settings.OTP_TTL) // 60)
    return f"Your Authenticator code is {code}. It expires in {minutes} minutes. Never share it."


ALREADY_REGISTERED = "This number already has an Authenticator account. Sign in instead of signing up."
