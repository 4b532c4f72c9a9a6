from __future__ import annotations

from django.conf import settings
from django.db import models

from authenticator.ids import SonyflakeField


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
    # Tries carried over from the code this one replaced (they count once, there).
    inherited_attempts = models.PositiveSmallIntegerField(default=0)
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
