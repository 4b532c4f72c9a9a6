"""Send a code by SMS or email, now.

``deliver`` is synchronous: a flow that must tell its caller the send failed (sign-up,
verifying a new email) calls it and lets ``DeliveryUnavailable`` become a ``503``. The
enumeration-safe sign-in request queues its whole job — make the code, then ``deliver`` —
on ``authenticator.core.background``'s pool, after the answer has gone.

Logs never carry the message (it holds the code) nor the full recipient.
"""

from __future__ import annotations

import logging

from otp.channels import send_email, sms_sender

logger = logging.getLogger(__name__)

SMS = "sms"
EMAIL = "email"
CHANNELS = (SMS, EMAIL)


def deliver(*, channel: str, to: str, message: str, subject: str = "Your code") -> None:
    """Send ``message`` to ``to`` by ``"sms"`` (E.164) or ``"email"`` now.

    Raises ``DeliveryUnavailable`` when the provider or the SMTP server fails.
    """
    if channel == SMS:
        sms_sender().send(to=to, message=message)
    elif channel == EMAIL:
        send_email(to=to, subject=subject, body=message)
    else:
        raise ValueError(f"Unknown delivery channel: {channel!r}")


def mask_recipient(to: str) -> str:
    """``+447700900123`` → ``+*********123``; ``jane@example.com`` → ``j***@example.com``."""
    if "@" in to:
        local, _, domain = to.rpartition("@")
        return f"{local[:1]}***@{domain}"
    prefix = "+" if to.startswith("+") else ""
    digits = to[len(prefix):]
    keep = 3 if len(digits) >= 8 else 2
    return prefix + "*" * max(len(digits) - keep, 0) + digits[-keep:]
