"""Send a code by SMS or email, and keep the record of each message (``Delivery``).

``deliver`` sends now and says who carried the message (provider and its message id).
A flow that must tell its caller the send failed (the CLI's sign-up, verifying a new
email) calls it and lets ``DeliveryUnavailable`` become a ``503``. Everything else goes
through a delivery record:

1. ``delivery_create`` writes the record (``queued``) in the transaction that made the
   code, and ``seal`` wraps the message (it holds the code) for the trip through the
   broker: encrypted and authenticated (Fernet, a key derived from SECRET_KEY), so the
   broker holds no readable code and the record none at all.
2. ``delivery_attempt`` claims the record (``queued`` → ``sending``, with a lease:
   one statement, so two workers holding copies of one task can't both send), calls
   the provider with the record's id as idempotency key, and records what happened:
   ``sent``; or, on failure, back to ``queued`` with a retry time (doubling) while the
   code is still valid, else ``failed`` (``undeliverable`` when the provider refused the
   message). A record that says it went is never sent again.
3. ``delivery_status_update`` takes the provider's word afterwards (Twilio's status
   callbacks): ``delivered``, ``failed``, ``undeliverable``.

Logs never carry the message (it holds the code) nor the full recipient.
"""

from __future__ import annotations

import base64
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from authenticator.core import metrics
from authenticator.core.conf import app_settings, derive_key
from authenticator.core.errors import DeliveryUnavailable
from otp.channels import send_email, sms_sender

from .models import DELIVERY_DONE, Delivery, DeliveryStatus, Otp

logger = logging.getLogger(__name__)

SMS = "sms"
EMAIL = "email"
CHANNELS = (SMS, EMAIL)


@dataclass(frozen=True)
class Sent:
    provider: str
    message_id: str


def deliver(*, channel: str, to: str, message: str, subject: str = "Your code", idempotency_key: str = "") -> Sent:
    """Send ``message`` to ``to`` by ``"sms"`` (E.164) or ``"email"`` now.

    Raises ``DeliveryUnavailable`` when the provider or the SMTP server fails.
    """
    if channel == SMS:
        sender = sms_sender()
        message_id = sender.send(to=to, message=message, idempotency_key=idempotency_key)
        return Sent(provider=str(getattr(sender, "name", type(sender).__name__)), message_id=str(message_id or ""))
    if channel == EMAIL:
        return Sent(provider="email", message_id=send_email(to=to, subject=subject, body=message,
                                                            idempotency_key=idempotency_key))
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


# --- the message on its way -----------------------------------------------------------------
def _fernet() -> Fernet:
    key = bytes.fromhex(derive_key(str(settings.SECRET_KEY), b"authenticator/delivery-seal/v1"))
    return Fernet(base64.urlsafe_b64encode(key))


def seal(*, to: str, message: str, subject: str) -> str:
    """The message as a token only this deployment (its SECRET_KEY) can read."""
    return _fernet().encrypt(json.dumps({"to": to, "message": message, "subject": subject}).encode()).decode()


def unseal(token: str) -> dict[str, str]:
    """Raises ``ValueError`` for a token this deployment did not seal (or a changed key)."""
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except (InvalidToken, ValueError, TypeError) as exc:
        raise ValueError("sealed message unreadable") from exc


# --- the records ------------------------------------------------------------------------------
def delivery_create(*, user_id: int, purpose: str, channel: str, to: str, otp: Otp | None = None,
                    expires_at: datetime | None = None, job_key: str = "") -> Delivery:
    """The record of a message about to be sent (``queued``); in the code's transaction."""
    now = timezone.now()
    if expires_at is None:
        expires_at = otp.expired_at if otp is not None else now + timedelta(seconds=int(app_settings.OTP_TTL))
    return Delivery.objects.create(
        # An address of 254 characters with a one-letter local part masks to 256 (the fuzzer's find).
        otp=otp, user_id=user_id, purpose=purpose, channel=channel, to_masked=mask_recipient(to)[:254], job_key=job_key,
        expires_at=expires_at, created_at=now, updated_at=now,
    )


def delivery_supersede(*, job_key: str) -> bool:
    """A job that makes a code was run again (its worker died before acknowledging it).

    True when it may make its code afresh: it made none yet, or the one it made was never
    claimed for sending (so nobody has it) and is now marked failed. False when its
    delivery is already with a sender, or done: the job has nothing left to do. One
    statement against the claim in ``delivery_attempt``, so only one of them wins."""
    if not job_key:
        return True
    superseded = Delivery.objects.filter(job_key=job_key, status=DeliveryStatus.QUEUED, attempts=0).update(
        status=DeliveryStatus.FAILED, job_key="", last_error="superseded: its job ran again and sent a new code",
        updated_at=timezone.now())
    return bool(superseded) or not Delivery.objects.filter(job_key=job_key).exists()


def _lease(channel: str) -> timedelta:
    # An SMS send takes at most a connect and a read timeout; an email a connect and a few
    # SMTP commands, each bounded by EMAIL_TIMEOUT. A claim older than that (and a margin)
    # belongs to a worker that died.
    if channel == EMAIL:
        return timedelta(seconds=4 * float(getattr(settings, "EMAIL_TIMEOUT", None) or 10.0) + 2.0)
    return timedelta(seconds=2 * float(app_settings.SMS_TIMEOUT) + 2.0)


def _backoff(attempts: int) -> float:
    base, most = float(app_settings.DELIVERY_RETRY_BASE), float(app_settings.DELIVERY_RETRY_MAX)
    delay = min(most, base * 2 ** max(0, attempts - 1))
    return delay * (0.8 + 0.4 * random.random())  # nosec B311 - jitter, not a secret


@dataclass(frozen=True)
class Attempt:
    """What ``delivery_attempt`` did: ``status`` (the record's, after it), and when to try
    again (``retry_after`` seconds) if it should be tried again."""

    status: str
    retry_after: float | None = None


def delivery_attempt(*, delivery_id: int, sealed: str, retry: bool = True) -> Attempt:
    """One try at sending a delivery, at most once whatever runs it how often.

    ``retry``: a failure leaves the record ``queued`` and answers when to try again
    (the broker's workers); without it (in-process, no broker) the first failure is final.
    """
    now = timezone.now()
    channel = Delivery.objects.filter(pk=delivery_id).values_list("channel", flat=True).first()
    if channel is None:  # purged, or never committed
        return Attempt("missing")
    lease_until = now + _lease(channel)
    claimed = (Delivery.objects.filter(pk=delivery_id, expires_at__gt=now)
               .filter(Q(status=DeliveryStatus.QUEUED) | Q(status=DeliveryStatus.SENDING, lease_until__lt=now))
               .update(status=DeliveryStatus.SENDING, lease_until=lease_until, attempts=F("attempts") + 1, updated_at=now))
    if not claimed:
        return _not_claimed(delivery_id=delivery_id, now=now, retry=retry)
    delivery = Delivery.objects.get(pk=delivery_id)
    try:
        payload = unseal(sealed)
    except ValueError:
        _finish(delivery, DeliveryStatus.FAILED, "the sealed message could not be read (SECRET_KEY changed?)")
        return Attempt(DeliveryStatus.FAILED)
    started = timezone.now()
    try:
        sent = deliver(channel=delivery.channel, to=payload["to"], message=payload["message"],
                       subject=payload.get("subject") or "Your code", idempotency_key=f"delivery-{delivery.pk}")
    except DeliveryUnavailable as exc:
        metrics.delivery_sent(channel=delivery.channel, outcome="error", seconds=(timezone.now() - started).total_seconds())
        return _failed(delivery, exc, retry=retry)
    done = timezone.now()
    metrics.delivery_sent(channel=delivery.channel, outcome="sent", seconds=(done - started).total_seconds(),
                          lag=(done - delivery.created_at).total_seconds())
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.SENT, provider=sent.provider[:32], provider_message_id=sent.message_id[:128], sent_at=done,
        lease_until=None, last_error="", updated_at=done)
    return Attempt(DeliveryStatus.SENT)


def _not_claimed(*, delivery_id: int, now: datetime, retry: bool) -> Attempt:
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:  # purged, or never committed
        return Attempt("missing")
    if delivery.status in DELIVERY_DONE:
        metrics.delivery_skipped(channel=delivery.channel)
        return Attempt(delivery.status)
    if delivery.expires_at <= now:
        _finish(delivery, DeliveryStatus.FAILED, delivery.last_error or "the code expired before it could be sent",
                expected=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING))
        return Attempt(DeliveryStatus.FAILED)
    # Another worker holds it (sending now, or it died mid-send and its lease has not run
    # out): look again once the lease is over.
    wait = max(0.5, (delivery.lease_until - now).total_seconds() + 0.5) if delivery.lease_until else 1.0
    return Attempt(delivery.status, retry_after=wait if retry else None)


def _failed(delivery: Delivery, exc: DeliveryUnavailable, *, retry: bool) -> Attempt:
    reason = str(getattr(exc, "reason", "") or "provider unavailable")[:200]
    attempts = Delivery.objects.filter(pk=delivery.pk).values_list("attempts", flat=True).first() or 1
    if getattr(exc, "permanent", False):
        _finish(delivery, DeliveryStatus.UNDELIVERABLE, reason)
        return Attempt(DeliveryStatus.UNDELIVERABLE)
    wait = _backoff(attempts)
    if not retry or timezone.now() + timedelta(seconds=wait) >= delivery.expires_at:
        why = reason if not retry else f"gave up after {attempts} tries, the code expires: {reason}"
        _finish(delivery, DeliveryStatus.FAILED, why)
        logger.warning("%s delivery to %s failed: %s", delivery.channel, delivery.to_masked, why)
        return Attempt(DeliveryStatus.FAILED)
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.QUEUED, lease_until=None, last_error=reason, updated_at=timezone.now())
    metrics.delivery_retried(channel=delivery.channel)
    return Attempt(DeliveryStatus.QUEUED, retry_after=wait)


def _finish(delivery: Delivery, status: str, error: str, expected: tuple[str, ...] = (DeliveryStatus.SENDING,)) -> None:
    Delivery.objects.filter(pk=delivery.pk, status__in=expected).update(
        status=status, lease_until=None, last_error=error[:255], updated_at=timezone.now())
    metrics.delivery_final(channel=delivery.channel, status=status)


# --- what the provider says afterwards --------------------------------------------------------
# Twilio's MessageStatus values: the ones that end a message, and the others (queued,
# accepted, scheduled, sending, sent) that leave it sent.
TWILIO_STATUSES = {
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERABLE,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
# Where a status may come from: a late "sent" never undoes "delivered", and the end of a
# message is told once.
_MAY_BECOME = {
    DeliveryStatus.DELIVERED: (DeliveryStatus.SENDING, DeliveryStatus.SENT),
    DeliveryStatus.UNDELIVERABLE: (DeliveryStatus.SENDING, DeliveryStatus.SENT),
    DeliveryStatus.FAILED: (DeliveryStatus.SENDING, DeliveryStatus.SENT),
}


def delivery_status_update(*, provider: str, message_id: str, status: str, error: str = "") -> int:
    """The provider's news of one of its messages; how many records it changed (0 or 1)."""
    if status not in _MAY_BECOME or not message_id:
        return 0
    changed = Delivery.objects.filter(provider=provider, provider_message_id=message_id,
                                      status__in=_MAY_BECOME[status]).update(
        status=status, last_error=error[:255], updated_at=timezone.now())
    return changed


def deliveries_purge(*, older_than: timedelta, batch_size: int = 5000) -> int:
    """Records with no code (notices) made before now - older_than; those of codes go with
    their codes (``otps_purge_expired``)."""
    rows = Delivery.objects.filter(otp__isnull=True, created_at__lt=timezone.now() - older_than)
    total = 0
    while ids := list(rows.values_list("id", flat=True)[:batch_size]):
        total += Delivery.objects.filter(pk__in=ids).delete()[0]
    return total
