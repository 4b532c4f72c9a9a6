"""How one-time passwords leave the service: SMS senders and email.

An SMS sender is any class with ``send(*, to, message)`` (``to`` in E.164), chosen by the
dotted path in ``AUTHENTICATOR["SMS_SENDER"]``. Every sender signals a failed send with
``DeliveryUnavailable`` and nothing else, so flows map it to one ``503`` answer.

Senders read their settings when they send, not when they are built, so one cached
instance per dotted path keeps working under test overrides.
"""

from __future__ import annotations

import logging
import os
import smtplib
import sys
import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

from authenticator.conf import app_settings
from authenticator.errors import DeliveryUnavailable

logger = logging.getLogger(__name__)

__all__ = [
    "ConsoleSmsSender",
    "HttpGatewaySmsSender",
    "OutboxSmsSender",
    "SmsMessage",
    "SmsSender",
    "TwilioSmsSender",
    "outbox",
    "send_email",
    "sms_sender",
]


@runtime_checkable
class SmsSender(Protocol):
    def send(self, *, to: str, message: str) -> None:
        """Send ``message`` to ``to`` (E.164); raise ``DeliveryUnavailable`` on failure."""
        ...


class ConsoleSmsSender:
    """The embedded default: the code appears on the console that runs the server."""

    _lock = threading.Lock()

    def send(self, *, to: str, message: str) -> None:
        # sys.stdout is looked up per send so that a replaced stream (capture, redirect)
        # receives it; the lock keeps lines from concurrent requests whole.
        with self._lock:
            sys.stdout.write(f"SMS to {to}: {message}\n")
            sys.stdout.flush()


@dataclass(frozen=True)
class SmsMessage:
    to: str
    message: str


# Every message OutboxSmsSender "sent", oldest first. Tests read it and the suite's
# autouse fixture empties it; the list object itself never changes, so
# ``from otp.channels import outbox`` stays valid.
outbox: list[SmsMessage] = []
_outbox_lock = threading.Lock()


class OutboxSmsSender:
    """For tests: keeps messages in ``otp.channels.outbox`` like Django's mail outbox."""

    def send(self, *, to: str, message: str) -> None:
        with _outbox_lock:
            outbox.append(SmsMessage(to=to, message=message))


class _HttpSmsSender:
    """A pooled HTTP client for SMS providers.

    One ``requests.Session`` per thread and process: the connection pool is reused across
    sends, a session is never shared between threads (its cookie jar is not thread-safe)
    and never survives a fork (the parent's sockets must not be read by two processes).
    """

    provider = "SMS provider"

    def __init__(self) -> None:
        self._local = threading.local()

    def _session(self) -> requests.Session:
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            self._local.session = requests.Session()
            self._local.pid = pid
        return self._local.session

    def _post(self, url: str, **kwargs: Any) -> requests.Response:
        timeout = float(app_settings.SMS_TIMEOUT)
        try:
            # No retry: a send whose answer was lost may have gone out, and a second SMS
            # with the same code is worse than asking the user to request again.
            response = self._session().post(url, timeout=(timeout, timeout), allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            # The exception names the URL, never the body: nothing here carries the code.
            logger.warning("%s unreachable: %s", self.provider, type(exc).__name__)
            raise DeliveryUnavailable() from exc
        if not 200 <= response.status_code < 300:
            logger.warning("%s answered HTTP %s%s", self.provider, response.status_code, self._error_hint(response))
            raise DeliveryUnavailable()
        return response

    def _error_hint(self, response: requests.Response) -> str:
        return ""


class HttpGatewaySmsSender(_HttpSmsSender):
    """A generic SMS gateway: ``POST {"to", "message"}`` as JSON to ``SMS_GATEWAY_URL``.

    ``SMS_GATEWAY_KEY``, when set, goes as ``Authorization: Bearer <key>``. Any 2xx is
    success; anything else, a refused connection or a timeout is ``DeliveryUnavailable``.
    """

    provider = "SMS gateway"

    def send(self, *, to: str, message: str) -> None:
        url = app_settings.SMS_GATEWAY_URL
        if not url:
            # The system check otp.E002 stops a misconfigured start; this covers overrides.
            raise ImproperlyConfigured("HttpGatewaySmsSender needs AUTHENTICATOR['SMS_GATEWAY_URL'].")
        headers = {}
        if app_settings.SMS_GATEWAY_KEY:
            headers["Authorization"] = f"Bearer {app_settings.SMS_GATEWAY_KEY}"
        self._post(url, json={"to": to, "message": message}, headers=headers)


class TwilioSmsSender(_HttpSmsSender):
    """Twilio's Messages API over plain HTTP (no SDK).

    ``POST {TWILIO_API_URL}/2010-04-01/Accounts/{sid}/Messages.json`` with the form fields
    ``To``, ``From``, ``Body`` and HTTP basic auth ``sid:token``; Twilio answers ``201``.
    """

    provider = "Twilio"

    def send(self, *, to: str, message: str) -> None:
        sid = app_settings.TWILIO_ACCOUNT_SID
        token = app_settings.TWILIO_AUTH_TOKEN
        sender = app_settings.TWILIO_FROM
        if not (sid and token and sender):
            raise ImproperlyConfigured(
                "TwilioSmsSender needs AUTHENTICATOR['TWILIO_ACCOUNT_SID'], ['TWILIO_AUTH_TOKEN'] and ['TWILIO_FROM']."
            )
        base = str(app_settings.TWILIO_API_URL).rstrip("/")
        url = f"{base}/2010-04-01/Accounts/{sid}/Messages.json"
        self._post(url, data={"To": to, "From": sender, "Body": message}, auth=(sid, token))

    def _error_hint(self, response: requests.Response) -> str:
        # Twilio's own error code (e.g. 21211 invalid 'To') tells an operator what to fix;
        # its message text may quote the number, so only the code is logged.
        try:
            code = response.json().get("code")
        except (ValueError, AttributeError):
            return ""
        return f" (Twilio error {code})" if code else ""


_senders: dict[str, SmsSender] = {}
_senders_lock = threading.Lock()


def sms_sender() -> SmsSender:
    """The configured sender: one instance per dotted path in ``SMS_SENDER``."""
    path = app_settings.SMS_SENDER
    sender = _senders.get(path)
    if sender is None:
        with _senders_lock:
            sender = _senders.get(path)
            if sender is None:
                try:
                    cls = import_string(path)
                except ImportError as exc:
                    raise ImproperlyConfigured(f"AUTHENTICATOR['SMS_SENDER'] = {path!r} cannot be imported: {exc}") from exc
                sender = _senders[path] = cls()
    return sender


def send_email(*, to: str, subject: str, body: str) -> None:
    """Send a plain-text email through Django's configured backend (SMTP via ``EMAIL_URL``).

    A refused connection, a timeout (``EMAIL_TIMEOUT``) or an SMTP error is
    ``DeliveryUnavailable``.
    """
    try:
        EmailMessage(subject=subject, body=body, to=[to]).send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        # smtplib errors carry the server's reply, never the body we sent; the address is
        # left out all the same.
        logger.warning("Email delivery failed: %s", type(exc).__name__)
        raise DeliveryUnavailable() from exc
