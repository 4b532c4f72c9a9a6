"""The flows' inputs: validated and normalised once, for every transport.

Each input is a strict serializer of plain fields (unknown fields refused, JSON strings
only, lengths, the code's format) whose validated data is the keyword arguments of one
flow call: blanks become None, a phone number or email becomes an ``Identifier``, the
``device`` the client reports joins the ``Requester`` the transport passes in context.
``parse`` raises InvalidInput with the field errors (``{field: [{code, message}]}``) —
the same codes and messages whichever transport the input came by; the flows' own
normalisation (``identifier_parse``, ``phone_and_country``) raises the same way.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from rest_framework import serializers

from authenticator.core.conf import app_settings
from authenticator.core.errors import InvalidInput

from ..flows.common import Requester, identifier_parse


def field_errors(detail) -> dict:
    """A serializer's errors as ``{field: [{"code", "message"}]}`` (the clients' shape)."""

    def convert(value):
        if isinstance(value, list):
            return [item for v in value for item in (convert(v) if isinstance(v, (list, dict)) else [{"code": v.code, "message": str(v)}])]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return [{"code": value.code, "message": str(value)}]

    return convert(detail) if isinstance(detail, dict) else {"non_field_errors": convert(detail)}


def parse(input_class: type[serializers.Serializer], data: Any, *, requester: Requester | None = None) -> dict[str, Any]:
    """The flow's keyword arguments from ``data``, or InvalidInput with field errors.

    ``requester``: who calls (address, user agent), for inputs whose flow records it.
    """
    serializer = input_class(data=data, context={"requester": requester or Requester()})
    if not serializer.is_valid():
        raise InvalidInput(extra={"errors": field_errors(serializer.errors)})
    return serializer.validated_data


class FlatSerializer(serializers.Serializer):
    """A serializer of plain fields whose instances copy their fields shallowly.

    DRF deep-copies every declared field for every instance, which re-runs each field's
    ``__init__``: 70 % of validating a sign-in body (0.29 of 0.41 ms, measured). Plain
    fields keep no state but what ``bind`` sets on the copy, so a shallow copy is
    enough; a field's options (OtpField's length) are therefore read once, at import.
    Not for serializers with nested serializers.
    """

    def get_fields(self):
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


class StrictSerializer(FlatSerializer):
    """Refuses fields it does not know, and bodies that are not JSON objects."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]}, code="invalid")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name[:64]: [serializers.ErrorDetail("Unknown field.", code="unknown_field")] for name in unknown[:10]}
            )
        return super().to_internal_value(data)

    def requester(self, platform: str) -> Requester:
        return dataclasses.replace(self.context.get("requester") or Requester(), platform=platform)

    def ip(self) -> str | None:
        return (self.context.get("requester") or Requester()).ip


class StrictCharField(serializers.CharField):
    """A JSON string, nothing else: DRF would turn 0 or true into "0" / "True"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: DRF would also take 0, 1, "yes", "off"..."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def text(max_length: int, **kwargs) -> serializers.CharField:
    return StrictCharField(max_length=max_length, trim_whitespace=True, **kwargs)


class OtpField(serializers.RegexField):
    """The code's format (OTP_LENGTH ASCII digits), checked before it costs a try."""

    def __init__(self, **kwargs):
        length = int(app_settings.OTP_LENGTH)
        super().__init__(
            regex=rf"^[0-9]{{{length}}}$", max_length=length, min_length=length,
            error_messages={"invalid": f"Enter the {length}-digit code."}, **kwargs,
        )

    def to_internal_value(self, data):
        if not isinstance(data, str):  # a number would lose its leading zeros
            self.fail("invalid")
        return super().to_internal_value(data)


class DeviceMixin(serializers.Serializer):
    device = text(128, required=False, allow_blank=True, default="",
                  help_text='The platform/device the client runs on, e.g. "ios 18.1 / iPhone 15". Stored as logged_in_on.')


def continuation() -> serializers.CharField:
    return text(4096, required=False, allow_blank=True, default="",
                help_text="From POST /auth/google: links that Google account once the phone is verified")


def challenge() -> serializers.CharField:
    return text(2048, required=False, allow_blank=True, allow_null=True, default="",
                help_text="A solved challenge's token (e.g. Cloudflare Turnstile's), when the service asks for one "
                          "(challenge_required); ignored when none is configured")


def _identifier(attrs: dict[str, Any]):
    return identifier_parse(phone_number=attrs.get("phone_number"), email=attrs.get("email"),
                            country_id=attrs.get("country_id"))


class SignupIn(StrictSerializer):
    """Start a sign-up: the phone number (E.164, or local with its country), the country
    (ISO 3166-1 alpha-2), a name, optionally a salutation and an email; unknown fields are
    refused. For ``signup_start``."""

    phone_number = text(32)
    country_id = text(2, min_length=2, help_text="ISO 3166-1 alpha-2 of the phone number's country")
    name = text(150, min_length=1)
    salutation = text(32, required=False, allow_blank=True, allow_null=True)
    email = StrictEmailField(max_length=254, required=False, allow_null=True, allow_blank=True)
    google_continuation = continuation()
    challenge_token = challenge()

    def validate(self, attrs):
        return {"phone_number": attrs["phone_number"], "country_id": attrs["country_id"], "name": attrs["name"],
                "salutation": attrs.get("salutation") or None, "email": attrs.get("email") or None,
                "google_continuation": attrs["google_continuation"] or None, "ip": self.ip(),
                "challenge_token": attrs.get("challenge_token") or None}


class SignupVerifyIn(StrictSerializer, DeviceMixin):
    """Finish a sign-up: the phone number and the code sent to it by SMS, the device the
    client runs on; with a Google continuation, the Google account is linked too. For
    ``signup_verify``."""

    phone_number = text(32)
    country_id = text(2, min_length=2, required=False, help_text="Region hint for a phone number written locally")
    otp = OtpField()
    google_continuation = continuation()

    def validate(self, attrs):
        return {"phone_number": attrs["phone_number"], "code": attrs["otp"], "requester": self.requester(attrs["device"]),
                "google_continuation": attrs["google_continuation"] or None, "country_id": attrs.get("country_id")}


class OtpRequestIn(StrictSerializer):
    """Ask for a sign-in code: a phone number (by SMS) or an email address (by email),
    one of the two. For ``sign_in_otp_request``."""

    phone_number = text(32, required=False)
    email = StrictEmailField(max_length=254, required=False)
    country_id = text(2, min_length=2, required=False, help_text="Region hint for a phone number written locally")
    challenge_token = challenge()

    def validate(self, attrs):
        return {"identifier": _identifier(attrs), "ip": self.ip(), "challenge_token": attrs.get("challenge_token") or None}


class OtpVerifyIn(OtpRequestIn, DeviceMixin):
    """Sign in with a code: the phone number or email it was sent to, the code, the
    device the client runs on. For ``sign_in_otp_verify``."""

    challenge_token = None  # a code request's field, not a check's
    otp = OtpField()
    google_continuation = continuation()

    def validate(self, attrs):
        return {"identifier": _identifier(attrs), "code": attrs["otp"], "requester": self.requester(attrs["device"]),
                "google_continuation": attrs["google_continuation"] or None}


class GoogleIn(StrictSerializer, DeviceMixin):
    """Sign in with Google: a Firebase ID token from the client's Google sign-in, and the
    device the client runs on. For ``google_sign_in``."""

    id_token = text(8192, help_text="A Firebase ID token from Google sign-in on the client")

    def validate(self, attrs):
        return {"id_token": attrs["id_token"], "requester": self.requester(attrs["device"])}


class RefreshIn(StrictSerializer):
    """Rotate tokens: the refresh token of the current pair (spent by this call). For
    ``token_refresh``."""

    refresh_token = text(4096)


class SignOutIn(StrictSerializer):
    """Sign out: this session, or every session of the caller with all=true. For
    ``sign_out`` (with the caller's user and session)."""

    all = StrictBooleanField(required=False, default=False)

    def validate(self, attrs):
        return {"everywhere": attrs["all"]}


class ProfileIn(StrictSerializer):
    """Change the profile: only the fields given change; a blank salutation clears it; a
    new email waits for the code sent to it. For ``profile_update``."""

    name = text(150, min_length=1, required=False)
    salutation = text(32, required=False, allow_blank=True, allow_null=True)
    email = StrictEmailField(max_length=254, required=False)

    def validate(self, attrs):
        kwargs = {k: attrs[k] for k in ("name", "email") if k in attrs}
        if "salutation" in attrs:
            kwargs["salutation"] = attrs["salutation"] or None
        return kwargs


class VerifyEmailIn(StrictSerializer):
    """Confirm a new email address with the code sent to it. For ``profile_verify_email``."""

    otp = OtpField()

    def validate(self, attrs):
        return {"code": attrs["otp"]}
