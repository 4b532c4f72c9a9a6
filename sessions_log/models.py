from __future__ import annotations

from django.conf import settings
from django.db import models

from authenticator.core.db import KeyField
from authenticator.core.ids import SonyflakeField


class LoginStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    LOGGED_OUT = "logged_out", "Logged out"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class EndedReason(models.TextChoices):
    """Why a login state ended; each way a session ends names itself."""

    SIGNED_OUT = "signed_out", "Signed out"
    SIGNED_OUT_EVERYWHERE = "signed_out_everywhere", "Signed out everywhere"
    REFRESH_REUSED = "refresh_reused", "Refresh token reused"
    REVOKED_BY_USER = "revoked_by_user", "Revoked by the user"
    REVOKED_BY_SUPPORT = "revoked_by_support", "Revoked by support"
    REVOKED_BY_OPERATOR = "revoked_by_operator", "Revoked from the command line"
    STATUS_CHANGED = "status_changed", "Account status changed"
    EXPIRED = "expired", "Expired"


# The status each reason leaves the login state in.
ENDED_STATUS = {
    EndedReason.SIGNED_OUT: LoginStatus.LOGGED_OUT,
    EndedReason.SIGNED_OUT_EVERYWHERE: LoginStatus.LOGGED_OUT,
    EndedReason.REFRESH_REUSED: LoginStatus.REVOKED,
    EndedReason.REVOKED_BY_USER: LoginStatus.REVOKED,
    EndedReason.REVOKED_BY_SUPPORT: LoginStatus.REVOKED,
    EndedReason.REVOKED_BY_OPERATOR: LoginStatus.REVOKED,
    EndedReason.STATUS_CHANGED: LoginStatus.REVOKED,
    EndedReason.EXPIRED: LoginStatus.EXPIRED,
}


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
    # Why it ended (empty while active, and for states that ended before it was recorded).
    ended_reason = models.CharField(max_length=32, choices=EndedReason.choices, blank=True, default="")

    class Meta:
        db_table = "login_states"
        ordering = ["-logged_in_at"]
        indexes = [
            models.Index(fields=["user", "status"], name="login_states_user_status_idx"),
            models.Index(fields=["status", "logged_in_at"], name="login_states_status_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.logged_in_on or 'unknown device'} from {self.logged_in_from or '?'} ({self.status})"


class LoginStateRefreshToken(models.Model):
    """A refresh token this service handed out for a login state, by its SHA-256 (hex).

    The Tokenizer's refresh tokens are opaque, and a refused one tells us nothing. When a
    rotated token comes back (two parties hold the chain: the Tokenizer revokes the
    session), this is how we find the session to end and whose cached introspections to
    drop. A token is rotated once a later refresh of its session happened.
    """

    digest = KeyField(primary_key=True, max_length=64)
    login_state = models.ForeignKey(LoginState, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "login_state_refresh_tokens"
        indexes = [models.Index(fields=["created_at"], name="login_state_refresh_time_idx")]

    def __str__(self) -> str:
        return f"refresh token {self.digest[:8]}… of login state {self.login_state_id}"
