from __future__ import annotations

from django.contrib.auth.base_user import BaseUserManager
from django.db import transaction


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, phone_number: str, country_id: str, name: str, password: str | None = None, **extra):
        from .services import user_create

        return user_create(
            phone_number=phone_number, country_id=country_id, name=name, password=password, **extra
        )

    @transaction.atomic
    def create_superuser(self, phone_number: str, country_id: str, name: str, password: str | None = None, **extra):
        from .models import UserStatus

        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("status", UserStatus.ACTIVE)
        return self.create_user(phone_number, country_id, name, password=password, **extra)

    def get_by_natural_key(self, username: str):
        # Staff sign into the admin with their phone number in any common format.
        from .validation import normalise_phone

        try:
            username = normalise_phone(username)
        except Exception:
            pass
        return self.get(**{self.model.USERNAME_FIELD: username})
