from __future__ import annotations

from django.conf import settings
from django.db import models

from authenticator.ids import SonyflakeField


class LoginStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    LOGGED_OUT = "logged_out", "Logged out"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class LoginState(models.Model):
    """Where a user is signed in. ``id`` is the session id the Tokenizer's tokens carry.

    ``logged_out_at`` is NULL while the session is active (the seed said NOT NULL, but
    there is no truthful value before the session ends); it is set when it ends.
    """

    id = SonyflakeField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_states")
    logged_in_on = models.CharField(max_length=128, blank=True, default="", help_text="device / platform the client reports")
    logged_in_from = models.CharField(max_length=128, blank=True, default="", help_text="country/city of the IP")
    logged_in_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    method = models.CharField(max_length=16, blank=True, default="", help_text="otp_sms, otp_email, google")
    status = models.CharField(max_length=16, choices=LoginStatus.choices, default=LoginStatus.ACTIVE)
    logged_in_at = models.DateTimeField(auto_now_add=True)
    logged_out_at = models.DateTimeField(null=True, blank=True)
    # When its tokens were last refreshed (NULL: never). A session whose last refresh (or
    # sign-in) is older than the refresh token lifetime can no longer be refreshed: it has
    # lapsed, and `manage.py purge` marks it expired.
    last_refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "login_states"
        ordering = ["-logged_in_at"]
        indexes = [
            models.Index(fields=["user", "status"], name="login_states_user_status_idx"),
            models.Index(fields=["status", "logged_in_at"], name="login_states_status_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.logged_in_on or 'unknown device'} from {self.logged_in_from or '?'} ({self.status})"
