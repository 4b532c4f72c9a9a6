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


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"  # claimed by a worker, the provider call under way
    SENT = "sent", "Sent"  # the provider accepted it
    DELIVERED = "delivered", "Delivered"  # the provider says it reached the phone
    FAILED = "failed", "Failed"  # not sent (provider down until the code expired), or the provider failed it
    UNDELIVERABLE = "undeliverable", "Undeliverable"  # the provider could not deliver it (e.g. unreachable number)


# A delivery in one of these is never sent again.
DELIVERY_DONE = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERABLE)


class Delivery(models.Model):
    """One message sent (or to be sent) to a user: what support sees for "I never got the code".

    Never the message or its code: the channel, the destination masked, who carried it
    (provider and its message id), where it is (status), how many tries and the last
    error. The row is also the send's idempotency record: a worker claims it before
    calling the provider (``queued`` → ``sending``, with a lease), and a row whose status
    says it went is never sent again. ``otp`` is the code it carried (none for the notice
    a registered number gets on sign-up); deleted with it (``otps_purge_expired``).
    """

    id = SonyflakeField()
    otp = models.ForeignKey(Otp, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries")
    purpose = models.CharField(max_length=16, choices=OtpPurpose.choices)
    channel = models.CharField(max_length=8, choices=OtpChannel.choices)
    to_masked = models.CharField("to", max_length=254)
    provider = models.CharField(max_length=32, blank=True, default="")
    provider_message_id = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True, default="")
    # The background job that made it: a redelivered job finds its row instead of making a second.
    job_key = models.CharField(max_length=64, blank=True, default="")
    # While ``sending``: until when the claiming worker owns it (after that, a worker that
    # died mid-send is presumed dead and another may send it, with the same idempotency key).
    lease_until = models.DateTimeField(null=True, blank=True)
    # Tries stop here: the code it carries is no use after it.
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "otp_deliveries"
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["user", "-created_at"], name="otp_deliveries_user_idx"),
            models.Index(fields=["provider", "provider_message_id"], name="otp_deliveries_provider_idx"),
            models.Index(fields=["created_at"], name="otp_deliveries_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["job_key"], condition=~models.Q(job_key=""), name="otp_deliveries_job_key_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to_masked}: {self.status}"
