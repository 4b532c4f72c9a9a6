from __future__ import annotations

import copy

from rest_framework import serializers

from authenticator.core.conf import app_settings

ASCII_DIGITS = r"^[0-9]+$"


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


class SignupIn(StrictSerializer):
    phone_number = text(32)
    country_id = text(2, min_length=2, help_text="ISO 3166-1 alpha-2 of the phone number's country")
    name = text(150, min_length=1)
    salutation = text(32, required=False, allow_blank=True, allow_null=True)
    email = StrictEmailField(max_length=254, required=False, allow_null=True, allow_blank=True)
    google_continuation = continuation()


class SignupVerifyIn(StrictSerializer, DeviceMixin):
    phone_number = text(32)
    country_id = text(2, min_length=2, required=False, help_text="Region hint for a phone number written locally")
    otp = OtpField()
    google_continuation = continuation()


class OtpRequestIn(StrictSerializer):
    phone_number = text(32, required=False)
    email = StrictEmailField(max_length=254, required=False)
    country_id = text(2, min_length=2, required=False, help_text="Region hint for a phone number written locally")


class OtpVerifyIn(OtpRequestIn, DeviceMixin):
    otp = OtpField()
    google_continuation = continuation()


class RefreshIn(StrictSerializer):
    refresh_token = text(4096)


class SignOutIn(StrictSerializer):
    all = StrictBooleanField(required=False, default=False)


class ProfileIn(StrictSerializer):
    name = text(150, min_length=1, required=False)
    salutation = text(32, required=False, allow_blank=True, allow_null=True)
    email = StrictEmailField(max_length=254, required=False)


class VerifyEmailIn(StrictSerializer):
    otp = OtpField()


# --- answers ---------------------------------------------------------------------------
class IdString(serializers.CharField):
    """Sonyflake ids are 63-bit: strings, so JavaScript clients keep every digit."""

    def to_representation(self, value) -> str:
        return str(value)


class UserOut(FlatSerializer):
    id = IdString()
    type = serializers.CharField()
    status = serializers.CharField()
    phone_number = serializers.CharField()
    country_id = serializers.CharField()
    name = serializers.CharField()
    salutation = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    email_verified = serializers.SerializerMethodField()
    tier = serializers.IntegerField()
    level = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def get_email_verified(self, user) -> bool:
        return bool(user.email and user.email_verified_at)


class SessionOut(FlatSerializer):
    id = IdString()
    device = serializers.CharField(source="logged_in_on")
    location = serializers.CharField(source="logged_in_from")
    ip = serializers.CharField(source="logged_in_ip", allow_null=True)
    method = serializers.CharField()
    status = serializers.CharField()
    logged_in_at = serializers.DateTimeField()
    logged_out_at = serializers.DateTimeField(allow_null=True)
    current = serializers.SerializerMethodField()

    def get_current(self, state) -> bool:
        return str(state.pk) == str(self.context.get("current_session_id"))


class TokensOut(FlatSerializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField()
    refresh_expires_in = serializers.IntegerField()
    session_id = serializers.CharField()


def signed_in_answer(result) -> dict:
    """A sign-in's answer (``SignedIn``) as REST and the CLI's --json give it."""
    return {
        "user": UserOut(result.user).data,
        "session": SessionOut(result.session, context={"current_session_id": result.session.pk}).data,
        "tokens": result.tokens.as_dict(),
    }


def otp_sent_answer(sent) -> dict:
    """A sent code's answer (``OtpSent``), for REST and the CLI."""
    return {"status": "otp_sent", "channel": sent.channel, "expires_in": sent.expires_in, "resend_after": sent.resend_after}


class SignedInOut(serializers.Serializer):
    user = UserOut()
    session = SessionOut()
    tokens = TokensOut()


class OtpSentOut(FlatSerializer):
    status = serializers.CharField(default="otp_sent")
    channel = serializers.CharField()
    expires_in = serializers.IntegerField()
    resend_after = serializers.IntegerField()


class ProfileOut(UserOut):
    email_pending = serializers.CharField(allow_null=True, required=False)


class ErrorOut(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(required=False)
    retry_after = serializers.IntegerField(required=False)


class RefreshOut(serializers.Serializer):
    tokens = TokensOut()


class GoogleIn(StrictSerializer, DeviceMixin):
    id_token = text(8192, help_text="A Firebase ID token from Google sign-in on the client")


class GoogleContinuationOut(serializers.Serializer):
    status = serializers.CharField(default="phone_verification_required")
    continuation = serializers.CharField(help_text="Pass as google_continuation to /auth/signup and /auth/signup/verify (new person) or /auth/otp/verify (existing account)")
    expires_in = serializers.IntegerField()
    email = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)


class IdentityOut(serializers.Serializer):
    id = IdString()
    provider = serializers.CharField()
    email = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
