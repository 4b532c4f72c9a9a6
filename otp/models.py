from __future__ import annotations

from django.conf import settings
from django.db import models

from authenticator.core.ids import SonyflakeField


class OtpPurpose(models.TextChoices):
    SIGNUP = "signup", "Sign-up"
    SIGNIN = "signin", "Sign-in"
    VERIFY_EMAIL = "verify_email", "Verify email"


class OtpChannel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class Otp(models.Model):
    """A one-time password sent to a user. ``otp`` holds an HMAC of the code, never the code."""

    id = SonyflakeField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="otps")
    otp = models.CharField(max_length=64, help_text="HMAC-SHA256 of the code, hex")
    purpose = models.CharField(max_length=16, choices=OtpPurpose.choices)
    channel = models.CharField(max_length=8, choices=OtpChannel.choices)
    # Where it was sent (E.164 or email): for a changed email this is the new address.
    sent_to = models.CharField(max_length=254)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Tries a code was born without: near its channel's ceiling a new code gets only the
    # tries left (none at it). They were never made, so they are no wrong tries.
    born_attempts = models.PositiveSmallIntegerField(default=0)
    # Who asked for it (a hash of the client address): the code's last try is theirs.
    asked_from = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expired_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "otps"
        verbose_name = "OTP"
        indexes = [
            # The live code of a user for a purpose; recent codes for limits.
            models.Index(fields=["user", "purpose", "-created_at"], name="otps_user_purpose_idx"),
            models.Index(fields=["expired_at"], name="otps_expired_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} via {self.channel} at {self.created_at:%Y-%m-%d %H:%M}"


class OtpDecoy(models.Model):
    """A code that was never sent: asked for an identifier with no active account.

    Recorded like a real code (same expiry, same tries, same ceiling) so that verifying
    against it answers what verifying a real code would — ``invalid_otp`` five times, then
    ``too_many_attempts``, ``otp_expired`` after its time — and a caller cannot tell
    which identifiers have accounts. No code, no user, no identifier: ``key`` is an HMAC
    of the normalised identifier (which is also its channel).
    """

    id = SonyflakeField()
    key = models.CharField(max_length=64)
    purpose = models.CharField(max_length=16, choices=OtpPurpose.choices)
    attempts = models.PositiveSmallIntegerField(default=0)
    born_attempts = models.PositiveSmallIntegerField(default=0)
    asked_from = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField()
    expired_at = models.DateTimeField()

    class Meta:
        db_table = "otp_decoys"
        indexes = [
            models.Index(fields=["key", "purpose", "-created_at"], name="otp_decoys_key_purpose_idx"),
            models.Index(fields=["expired_at"], name="otp_decoys_expired_at_idx"),
        ]


class OtpLockoutReset(models.Model):
    """Support cleared an account's wrong-code count on a channel: earlier codes no
    longer count towards OTP_ACCOUNT_MAX_FAILURES. Kept as the audit of who and why."""

    id = SonyflakeField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="otp_lockout_resets")
    channel = models.CharField(max_length=8, choices=OtpChannel.choices)
    reason = models.CharField(max_length=255)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_label = models.CharField(max_length=64, blank=True, default="")  # "admin", "cli:<os user>"
    reset_at = models.DateTimeField()

    class Meta:
        db_table = "otp_lockout_resets"
        verbose_name = "OTP lockout reset"
        indexes = [models.Index(fields=["user", "channel", "-reset_at"], name="otp_resets_user_channel_idx")]

    def __str__(self) -> str:
        return f"{self.channel} reset at {self.reset_at:%Y-%m-%d %H:%M}"
