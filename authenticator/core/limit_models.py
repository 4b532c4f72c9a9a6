"""PostgreSQL's side of the limits kept in Redis: the fallback that holds when Redis is gone.

Registered with the ``authenticator`` app (``authenticator.models`` imports them); written
only by raw, single-statement upserts in ``authenticator.core.limits`` so that two
processes counting at once never lose a count. Keys carry their window (an hour, a
prefix window), so a row of an ended window is never read again; ``limits_purge_expired``
deletes those.
"""

from __future__ import annotations

from django.db import models

from .db import KeyField


class LimitCounter(models.Model):
    """A counter (a budget's hour, a send limit's hour) or a deadline (a resend cooldown:
    ``count`` 1 until ``expires_at``)."""

    key = KeyField(primary_key=True, max_length=120)
    count = models.IntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "authenticator"
        db_table = "limit_counters"


class LimitMember(models.Model):
    """One member of a set counted by its size: the distinct numbers of a prefix range,
    or that one address asked for, in a window. ``member`` is a digest, never a number."""

    id = models.BigAutoField(primary_key=True)
    key = KeyField(max_length=120)
    member = KeyField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "authenticator"
        db_table = "limit_members"
        constraints = [models.UniqueConstraint(fields=["key", "member"], name="limit_members_key_member")]


class SmsBudgetTrip(models.Model):
    """A budget that refused a request in a window: what the admin's SMS page lists.

    One row per budget, scope and window (the first refusal writes it; later ones add to
    ``refused`` only in the process's own memory, so an attack costs no write per request)."""

    id = models.BigAutoField(primary_key=True)
    budget = models.CharField(max_length=16)  # country | global | prefix
    scope = models.CharField(max_length=32)  # ISO country, "*" for global, or the prefix
    window_start = models.DateTimeField()
    limit = models.IntegerField()
    tripped_at = models.DateTimeField()

    class Meta:
        app_label = "authenticator"
        db_table = "sms_budget_trips"
        ordering = ["-tripped_at"]
        constraints = [models.UniqueConstraint(fields=["budget", "scope", "window_start"], name="sms_budget_trips_once")]
        indexes = [models.Index(fields=["-tripped_at"], name="sms_budget_trips_recent")]

    def __str__(self) -> str:
        return f"{self.budget} {self.scope} at {self.tripped_at:%Y-%m-%d %H:%M}"
