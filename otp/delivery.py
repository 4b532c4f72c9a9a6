"""Send a code now, or later from a small pool of threads.

``deliver`` is synchronous: a flow that must tell its caller the send failed (sign-up,
verifying a new email) calls it and lets ``DeliveryUnavailable`` become a ``503``.

``deliver_later`` queues a send on the process-wide pool of ``authenticator.background``
and returns at once; a failure is logged, never raised. (The enumeration-safe sign-in
request does not use it: it queues its whole job — make the code, then ``deliver`` — on
that pool, after the answer has gone.)

Logs never carry the message (it holds the code) nor the full recipient.
"""

from __future__ import annotations

import logging
import traceback

from authenticator import background
from authenticator.errors import DeliveryUnavailable
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


def _send_logged(*, channel: str, to: str, message: str, subject: str) -> None:
    try:
        deliver(channel=channel, to=to, message=message, subject=subject)
    except DeliveryUnavailable:
        # The channel already logged why (status, error class); this says whom it missed.
        logger.warning("Background %s delivery to %s failed", channel, mask_recipient(to))
    except Exception as exc:  # noqa: BLE001 - a bug in a sender must not kill the worker silently
        # The traceback is wanted for a bug, but an exception's text may quote its
        # arguments: scrub the message and recipient out of it before it is logged.
        text = "".join(traceback.format_exception(exc))
        text = text.replace(message, "[message]").replace(to, mask_recipient(to))
        logger.error("Background %s delivery to %s crashed:\n%s", channel, mask_recipient(to), text)


def deliver_later(*, channel: str, to: str, message: str, subject: str = "Your code") -> None:
    """Queue the send on the background pool and return at once; failures are logged."""
    if channel not in CHANNELS:
        # A programming error, found on the request path rather than in a log.
        raise ValueError(f"Unknown delivery channel: {channel!r}")
    background.submit(_send_logged, name=f"{channel} delivery", channel=channel, to=to, message=message, subject=subject)


def wait_for_deliveries(timeout: float = 5) -> None:
    """Block until queued sends have finished (tests, shutdown); TimeoutError past ``timeout``."""
    background.wait_idle(timeout=timeout)
