"""How one-time passwords leave the service: SMS senders and email.

An SMS sender is any class with ``send(*, to, message, idempotency_key="")`` (``to`` in
E.164) returning the provider's message id ("" if it gives none), and a ``name`` (the
provider, as delivery records show it), chosen by the dotted path in
``AUTHENTICATOR["SMS_SENDER"]``. ``idempotency_key`` is the same for every try of one
message (a delivery record's id): a provider that honours it sends the message once
however often a worker retries. Every sender signals a failed send with
``DeliveryUnavailable`` and nothing else, so flows map it to one ``503`` answer.

Senders read their settings when they send, not when they are built, so one cached
instance per dotted path keeps working under test overrides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import smtplib
import sys
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import certifi
import urllib3
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.core.mail.message import make_msgid
from django.utils.module_loading import import_string

from authenticator.core import jsonsafe
from authenticator.core.conf import app_settings
from authenticator.core.errors import DeliveryUnavailable

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
    name: str

    def send(self, *, to: str, message: str, idempotency_key: str = "") -> str:
        """Send ``message`` to ``to`` (E.164); the provider's message id ("" if none).

        Raise ``DeliveryUnavailable`` on failure (``permanent=True`` when trying again
        cannot help: the provider refused the number or the message)."""
        ...


class ConsoleSmsSender:
    """The embedded default: the code appears on the console that runs the server."""

    name = "console"
    _lock = threading.Lock()

    def send(self, *, to: str, message: str, idempotency_key: str = "") -> str:
        # sys.stdout is looked up per send so that a replaced stream (capture, redirect)
        # receives it; the lock keeps lines from concurrent requests whole.
        with self._lock:
            sys.stdout.write(f"SMS to {to}: {message}\n")
            sys.stdout.flush()
        return ""


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

    name = "outbox"

    def send(self, *, to: str, message: str, idempotency_key: str = "") -> str:
        with _outbox_lock:
            outbox.append(SmsMessage(to=to, message=message))
            return f"outbox-{len(outbox)}"


class _HttpSmsSender:
    """A pooled HTTP client for SMS providers, on urllib3.

    One urllib3 pool manager per origin and process (thread-safe; a forked child makes its
    own, so no socket is read by two processes); connections are reused across sends. urllib3
    rather than requests: a send costs a third of the CPU (about 0.4 ms against 1.4 ms
    measured here), and a send happens on every sign-in. Proxies come from the
    environment (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``) and certificates from
    certifi, as requests would take them.
    """

    provider = "SMS provider"

    def __init__(self) -> None:
        self._pools: dict[str, urllib3.PoolManager] = {}
        self._pid = 0
        self._lock = threading.Lock()

    def _pool(self, url: str) -> urllib3.PoolManager:
        """The pool for ``url``'s origin: direct, or through the environment's proxy."""
        pid = os.getpid()
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        pool = self._pools.get(origin) if self._pid == pid else None
        if pool is None:
            with self._lock:
                if self._pid != pid:
                    self._pools, self._pid = {}, pid
                pool = self._pools.get(origin)
                if pool is None:
                    proxy = None
                    if not urllib.request.proxy_bypass_environment(parts.hostname or ""):
                        proxy = urllib.request.getproxies_environment().get(parts.scheme)
                    options = {"ca_certs": certifi.where(), "maxsize": 16, "block": False}
                    pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
                    self._pools[origin] = pool
        return pool

    def _post(self, url: str, *, json_body: Any = None, form: dict[str, str] | None = None,
              headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None) -> urllib3.BaseHTTPResponse:
        timeout = float(app_settings.SMS_TIMEOUT)
        headers = dict(headers or {})
        if auth is not None:
            headers.update(urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
        if json_body is not None:
            body, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        else:
            body = urllib.parse.urlencode(form or {}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            # No retry: a send whose answer was lost may have gone out, and a second SMS
            # with the same code is worse than asking the user to request again.
            response = self._pool(url).request(
                "POST", url, body=body, headers=headers, timeout=urllib3.Timeout(connect=timeout, read=timeout),
                retries=False, redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            # The exception names the URL, never the body: nothing here carries the code.
            logger.warning("%s unreachable: %s", self.provider, type(exc).__name__)
            error = DeliveryUnavailable()
            error.reason = f"{self.provider} unreachable: {type(exc).__name__}"
            raise error from exc
        if not 200 <= response.status < 300:
            hint = self._error_hint(response)
            logger.warning("%s answered HTTP %s%s", self.provider, response.status, hint)
            error = DeliveryUnavailable()
            error.reason = f"{self.provider} answered HTTP {response.status}{hint}"
            # A refusal of this message (bad number, bad request) stays a refusal however
            # often it is tried; overload (429) and the provider's own errors (5xx) do not.
            error.permanent = 400 <= response.status < 500 and response.status not in (408, 409, 425, 429)
            raise error
        return response

    @staticmethod
    def _message_id(response: urllib3.BaseHTTPResponse, *keys: str) -> str:
        """The provider's id for the message, from a JSON answer ("" if there is none)."""
        try:
            data = jsonsafe.loads(response.data)
        except ValueError:
            return ""
        if not isinstance(data, dict):
            return ""
        for key in keys:
            value = data.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                return str(value)[:128]
        return ""

    def _error_hint(self, response: urllib3.BaseHTTPResponse) -> str:
        return ""


class HttpGatewaySmsSender(_HttpSmsSender):
    """A generic SMS gateway: ``POST {"to", "message"}`` as JSON to ``SMS_GATEWAY_URL``.

    ``SMS_GATEWAY_KEY``, when set, goes as ``Authorization: Bearer <key>``. Any 2xx is
    success; anything else, a refused connection or a timeout is ``DeliveryUnavailable``.
    """

    provider = "SMS gateway"
    name = "gateway"

    def send(self, *, to: str, message: str, idempotency_key: str = "") -> str:
        url = app_settings.SMS_GATEWAY_URL
        if not url:
            # The system check otp.E002 stops a misconfigured start; this covers overrides.
            raise ImproperlyConfigured("HttpGatewaySmsSender needs AUTHENTICATOR['SMS_GATEWAY_URL'].")
        headers = {}
        if app_settings.SMS_GATEWAY_KEY:
            headers["Authorization"] = f"Bearer {app_settings.SMS_GATEWAY_KEY}"
        if idempotency_key:
            # The same on every try of one message: a gateway that honours it (the IETF
            # draft's header) sends the message once, however often a worker tries.
            headers["Idempotency-Key"] = idempotency_key
        response = self._post(url, json_body={"to": to, "message": message}, headers=headers)
        return self._message_id(response, "id", "message_id")


class TwilioSmsSender(_HttpSmsSender):
    """Twilio's Messages API over plain HTTP (no SDK).

    ``POST {TWILIO_API_URL}/2010-04-01/Accounts/{sid}/Messages.json`` with the form fields
    ``To``, ``From``, ``Body`` and HTTP basic auth ``sid:token``; Twilio answers ``201``.
    """

    provider = "Twilio"
    name = "twilio"

    def send(self, *, to: str, message: str, idempotency_key: str = "") -> str:
        sid = app_settings.TWILIO_ACCOUNT_SID
        token = app_settings.TWILIO_AUTH_TOKEN
        sender = app_settings.TWILIO_FROM
        if not (sid and token and sender):
            raise ImproperlyConfigured(
                "TwilioSmsSender needs AUTHENTICATOR['TWILIO_ACCOUNT_SID'], ['TWILIO_AUTH_TOKEN'] and ['TWILIO_FROM']."
            )
        base = str(app_settings.TWILIO_API_URL).rstrip("/")
        url = f"{base}/2010-04-01/Accounts/{sid}/Messages.json"
        form = {"To": to, "From": sender, "Body": message}
        if app_settings.TWILIO_STATUS_CALLBACK_URL:
            # Twilio posts the message's status there (api: TwilioStatusCallbackView).
            form["StatusCallback"] = str(app_settings.TWILIO_STATUS_CALLBACK_URL)
        # Twilio's Messages API has no idempotency key: a try whose answer was lost may
        # have gone out (docs/operators/delivery.md).
        response = self._post(url, form=form, auth=(sid, token))
        return self._message_id(response, "sid")

    def _error_hint(self, response: urllib3.BaseHTTPResponse) -> str:
        # Twilio's own error code (e.g. 21211 invalid 'To') tells an operator what to fix;
        # its message text may quote the number, so only the code is logged.
        try:
            code = jsonsafe.loads(response.data).get("code")
        except (ValueError, AttributeError):
            return ""
        return f" (Twilio error {code})" if code else ""


def twilio_signature(*, auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature of a form POST to ``url``: the URL, then each parameter's
    name and value, sorted by name (values of one name in order), HMAC-SHA1 with the
    account's auth token, base64 (Twilio's "Webhooks security" page)."""
    data = url + "".join(f"{name}{value}" for name, value in sorted(params, key=lambda pair: pair[0]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_signature_valid(*, auth_token: str, url: str, params: list[tuple[str, str]], signature: str) -> bool:
    expected = twilio_signature(auth_token=auth_token, url=url, params=params)
    return bool(auth_token) and hmac.compare_digest(expected.encode(), (signature or "").encode())


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


def send_email(*, to: str, subject: str, body: str, idempotency_key: str = "") -> str:
    """Send a plain-text email through Django's configured backend (SMTP via ``EMAIL_URL``);
    returns its Message-ID (made here, so the delivery record can name it).

    A refused connection, a timeout (``EMAIL_TIMEOUT``) or an SMTP error is
    ``DeliveryUnavailable``.
    """
    message_id = make_msgid(idstring=idempotency_key or None, domain="authenticator")
    try:
        EmailMessage(subject=subject, body=body, to=[to], headers={"Message-ID": message_id}).send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        # smtplib errors carry the server's reply, never the body we sent; the address is
        # left out all the same.
        logger.warning("Email delivery failed: %s", type(exc).__name__)
        error = DeliveryUnavailable()
        error.reason = f"email: {type(exc).__name__}"
        raise error from exc
    return message_id
