"""Sending a recorded message: on the broker's workers, or here when there is none.

A job that makes a code writes its delivery record in the code's transaction, then calls
``send_recorded``: with a broker the send is a task of its own (``delivery_send``), whose
message carries the sealed text, so a worker that dies mid-send leaves it to another;
without one, this thread tries once (the embedded default, as before the broker).
Either way ``otp.delivery.delivery_attempt`` sends it at most once.
"""

from __future__ import annotations

import logging

from authenticator.core import background
from authenticator.core.conf import app_settings
from authenticator.core.errors import InvalidSignature
from otp.channels import twilio_signature_valid
from otp.delivery import TWILIO_STATUSES, delivery_attempt, delivery_status_update, seal
from otp.models import Delivery

log = logging.getLogger(__name__)

SEND_TASK = "authn.delivery.send"


@background.job(SEND_TASK)
def delivery_send(*, delivery_id: int, sealed: str) -> float | None:
    """One try on a worker; seconds until the next one, or None when there is none to make."""
    return delivery_attempt(delivery_id=delivery_id, sealed=sealed, retry=True).retry_after


def send_recorded(*, delivery: Delivery, to: str, message: str, subject: str) -> str:
    """Send ``delivery`` (just committed): queued for a worker, or tried once now. Returns
    the record's status once this call is done with it."""
    sealed = seal(to=to, message=message, subject=subject)
    if background.broker_url():
        try:
            background.enqueue(SEND_TASK, delivery_id=delivery.pk, sealed=sealed)
            return delivery.status
        except Exception:  # noqa: BLE001 - the broker is down: send from here, once
            log.warning("broker did not take a delivery; sending it from this process", exc_info=True)
    if background.submit(_send_once, name="delivery", lane="sends", delivery_id=delivery.pk, sealed=sealed):
        return delivery.status  # queued for the sends lane: never on the thread that made the code
    return delivery_attempt(delivery_id=delivery.pk, sealed=sealed, retry=False).status


def _send_once(*, delivery_id: int, sealed: str) -> None:
    delivery_attempt(delivery_id=delivery_id, sealed=sealed, retry=False)


def twilio_status_callback(*, url: str, params: list[tuple[str, str]], signature: str) -> int:
    """Twilio's status callback for a message we sent (``StatusCallback``): checked against
    its X-Twilio-Signature with the auth token, then the delivery record takes the news.
    Returns how many records changed (0 for a status that ends nothing, or an unknown sid).

    ``url``: the URL Twilio posted to, as it signed it (TWILIO_STATUS_CALLBACK_URL when set:
    behind proxies the URL a request arrives at is not the one Twilio called).
    """
    token = str(app_settings.TWILIO_AUTH_TOKEN or "")
    if not token or not twilio_signature_valid(auth_token=token, url=url, params=params, signature=signature):
        raise InvalidSignature()
    data = dict(params)
    status = TWILIO_STATUSES.get(str(data.get("MessageStatus", "")).lower())
    if status is None:
        return 0
    code = str(data.get("ErrorCode", "") or "")[:16]
    return delivery_status_update(provider="twilio", message_id=str(data.get("MessageSid", ""))[:128], status=status,
                                  error=f"Twilio error {code}" if code else "")
