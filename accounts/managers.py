"""Managers build rows; the services (``accounts.services``) validate and call them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import BaseUserManager
from django.db import models, transaction

from .status import UserStatus
from .validation import normalise_phone, normalise_phone_for_country


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, phone_number: str, country_id: str, name: str, password: str | None = None, *,
                    actor: Any = None, actor_label: str = "signup", **extra: Any):
        """A user's row and its first status-history row. The values are stored as given:
        ``accounts.services.user_create`` validates and normalises them first."""
        user = self.model(phone_number=phone_number, country_id=country_id, name=name, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(force_insert=True, using=self._db)
        user.status_histories.record(user=user, status=user.status, previous_status=None, reason="created",
                                     actor=actor, actor_label=actor_label)
        return user

    @transaction.atomic
    def create_superuser(self, phone_number: str, country_id: str, name: str, password: str | None = None, **extra: Any):
        """Django's ``createsuperuser``: an active staff superuser, from what the operator typed
        (a ValidationError is the command's error line)."""
        phone_number, country_id = normalise_phone_for_country(phone_number, country_id)
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("status", UserStatus.ACTIVE)
        return self.create_user(phone_number, country_id, name.strip(), password=password, **extra)

    def get_by_natural_key(self, username: str):
        # Staff sign into the admin with their phone number in any common format.
        try:
            username = normalise_phone(username)
        except Exception:
            pass
        return self.get(**{self.model.USERNAME_FIELD: username})


class StatusHistoryManager(models.Manager):
    def record(self, *, user: Any, status: str, previous_status: str | None, reason: str = "",
               actor: Any = None, actor_label: str = ""):
        """The one writer of status history: call it in the transaction of the change.

        ``actor`` is the person who made it, if one did; ``actor_label`` says who did when
        nobody did ("signup", "cli:<os user>", "system"), and where a person did ("admin").
        """
        return self.create(user=user, status=status, previous_status=previous_status, reason=reason[:500],
                           actor=actor, actor_label=actor_label if actor is None else (actor_label or "staff"))
