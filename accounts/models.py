from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower

from authenticator.core.ids import SonyflakeField

from .managers import StatusHistoryManager, UserManager
from .status import UserStatus
from .validation import normalise_user_fields

# A tier or a level is a whole number from 1 (the columns are smallints): the one range
# the services check and the admin's form offers.
LEVEL_MIN, LEVEL_MAX = 1, 32767


class UserType(models.TextChoices):
    PHONE = "phone", "Phone"
    EMAIL = "email", "Email"
    GOOGLE = "google", "Google"


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Non-staff users have an unusable password: they sign in by OTP or Google."""

    id = SonyflakeField()
    type = models.CharField(max_length=16, choices=UserType.choices, default=UserType.PHONE)
    country_id = models.CharField("country", max_length=2, help_text="ISO 3166-1 alpha-2")
    phone_number = models.CharField(max_length=16, unique=True, help_text="E.164")
    name = models.CharField(max_length=150)
    salutation = models.CharField(max_length=32, null=True, blank=True)
    email = models.EmailField(max_length=254, null=True, blank=True)
    status = models.CharField(max_length=16, choices=UserStatus.choices, default=UserStatus.UNVERIFIED)
    # Tier and level: tier is an addition, `level` is the seed's column; both start at 1.
    tier = models.PositiveSmallIntegerField(default=1)
    level = models.PositiveSmallIntegerField(default=1)
    is_staff = models.BooleanField(default=False)
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    USERNAME_FIELD = "phone_number"
    REQUIRED_FIELDS = ["country_id", "name"]

    objects = UserManager()

    class Meta:
        db_table = "users"
        constraints = [
            # Only a verified email is anyone's: an address typed at sign-up (or in the
            # profile) is a claim that blocks nobody, and whoever verifies it first owns it.
            models.UniqueConstraint(Lower("email"), condition=models.Q(email_verified_at__isnull=False),
                                    name="users_verified_email_ci_unique"),
        ]
        indexes = [
            # Unverified claims on an address: cleared when someone verifies it.
            models.Index(Lower("email"), name="users_email_ci_idx"),
            models.Index(fields=["status"], name="users_status_idx"),
            models.Index(fields=["created_at"], name="users_created_at_idx"),
        ]
        # The support staff's admin actions (authenticator/admin/accounts.py); the "Support" group has them.
        permissions = [
            ("block_user", "Can block, unblock and suspend users"),
            ("signout_user", "Can sign users out everywhere"),
            ("set_level", "Can set a user's level"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_number})"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        # Django's auth (admin login, ModelBackend) only lets active users in.
        return self.status == UserStatus.ACTIVE

    def clean(self) -> None:
        normalise_user_fields(self)


class StatusHistory(models.Model):
    """One row for every change of a user's status, written in the same transaction, by
    ``StatusHistory.objects.record`` alone."""

    id = SonyflakeField()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="status_histories")
    status = models.CharField(max_length=16, choices=UserStatus.choices)
    previous_status = models.CharField(max_length=16, choices=UserStatus.choices, null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True, default="")
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Who changed it when no user did: "system", "cli", "signup"...
    actor_label = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now_add=True)

    objects = StatusHistoryManager()

    class Meta:
        db_table = "status_histories"
        verbose_name_plural = "status histories"
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="status_hist_user_time_idx")]

    def __str__(self) -> str:
        return f"{self.previous_status} → {self.status}"


class SocialIdentity(models.Model):
    """A sign-in identity at an outside provider (Google through Firebase) linked to a user."""

    id = SonyflakeField()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identities")
    provider = models.CharField(max_length=32, help_text='e.g. "google.com"')
    uid = models.CharField(max_length=128, help_text="the provider's stable user id")
    email = models.EmailField(max_length=254, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "social_identities"
        verbose_name_plural = "social identities"
        constraints = [models.UniqueConstraint(fields=["provider", "uid"], name="social_identity_provider_uid_unique")]
        indexes = [models.Index(fields=["user"], name="social_identities_user_idx")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.uid}"


class StaffChange(models.Model):
    """One row for every change staff make to a user's data, written in the same transaction.

    The audit trail support and superusers read on the user's page. Values are kept only
    for fields that are not secret: a password change is a row with no value at all.
    """

    id = SonyflakeField()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="staff_changes")
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    field = models.CharField(max_length=64)
    old_value = models.TextField(null=True, blank=True)
    new_value = models.TextField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True, default="")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "staff_changes"
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["user", "-changed_at"], name="staff_changes_user_time_idx")]

    def __str__(self) -> str:
        return f"{self.field} by {self.actor_id}"
