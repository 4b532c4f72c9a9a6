"""System checks: a delivery channel that cannot work stops the service at start.

Without them a wrong ``SMS_SENDER`` or a missing provider credential would show up only
as the first user's ``503``. Registered from ``OtpConfig.ready()``.

Ids: ``otp.E001`` SMS_SENDER cannot be imported or is not a sender; ``otp.E002``
HttpGatewaySmsSender without a usable SMS_GATEWAY_URL; ``otp.E003`` TwilioSmsSender
without its settings; ``otp.E004`` / ``otp.E005`` with DEBUG off, SMS / email codes
would be written to the console or a file (logs); ``otp.W001`` (deploy) codes go
nowhere real with DEBUG off.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from authenticator.core.conf import app_settings
from otp.channels import (
    ConsoleSmsSender,
    HttpGatewaySmsSender,
    OutboxSmsSender,
    TwilioSmsSender,
)


def _sender_class() -> tuple[type | None, list[CheckMessage]]:
    path = app_settings.SMS_SENDER
    try:
        cls = import_string(path)
    except ImportError as exc:
        return None, [Error(
            f"AUTHENTICATOR['SMS_SENDER'] = {path!r} cannot be imported: {exc}",
            hint="Give the dotted path of a class with send(*, to, message), e.g. 'otp.channels.HttpGatewaySmsSender'.",
            id="otp.E001",
        )]
    if not isinstance(cls, type) or not callable(getattr(cls, "send", None)):
        return None, [Error(
            f"AUTHENTICATOR['SMS_SENDER'] = {path!r} is not a class with a send(*, to, message) method.",
            id="otp.E001",
        )]
    return cls, []


def check_sms_sender(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    cls, errors = _sender_class()
    if cls is None:
        return errors
    if issubclass(cls, HttpGatewaySmsSender):
        url = app_settings.SMS_GATEWAY_URL
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(Error(
                f"{cls.__name__} needs an http(s) AUTHENTICATOR['SMS_GATEWAY_URL'] (got {url!r}).",
                hint="Set the SMS_GATEWAY_URL environment variable.",
                id="otp.E002",
            ))
    if issubclass(cls, TwilioSmsSender):
        missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "TWILIO_API_URL")
                   if not getattr(app_settings, name)]
        if missing:
            errors.append(Error(
                f"{cls.__name__} needs AUTHENTICATOR settings: {', '.join(missing)}.",
                hint="Set them in the environment (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM).",
                id="otp.E003",
            ))
    return errors


def check_sms_sender_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    cls, _ = _sender_class()
    if cls is not None and issubclass(cls, (ConsoleSmsSender, OutboxSmsSender)) and not settings.DEBUG:
        return [Warning(
            f"SMS_SENDER is {cls.__name__}: sign-in codes never reach a phone.",
            hint="Choose a provider, e.g. SMS_SENDER=otp.channels.TwilioSmsSender.",
            id="otp.W001",
        )]
    return []


# Email backends that write every message, codes included, where logs and files go.
CONSOLE_EMAIL_BACKENDS = (
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
)


def check_codes_not_logged(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """With DEBUG off, refuse to start when codes would be printed rather than sent."""
    if settings.DEBUG:
        return []
    errors: list[CheckMessage] = []
    cls, _ = _sender_class()
    if cls is not None and issubclass(cls, ConsoleSmsSender):
        errors.append(Error(
            f"SMS_SENDER is {cls.__name__} with DEBUG off: every sign-in code would be written to the logs.",
            hint="Set SMS_SENDER to a provider (otp.channels.HttpGatewaySmsSender with SMS_GATEWAY_URL, or "
                 "otp.channels.TwilioSmsSender), or DEBUG=1 on a development machine.",
            id="otp.E004",
        ))
    if getattr(settings, "EMAIL_BACKEND", "") in CONSOLE_EMAIL_BACKENDS:
        errors.append(Error(
            f"EMAIL_BACKEND is {settings.EMAIL_BACKEND} with DEBUG off: every email code would be written to the logs or disk.",
            hint="Set EMAIL_URL to your SMTP server, e.g. smtp+tls://user:password@smtp.example.com:587.",
            id="otp.E005",
        ))
    return errors
