"""Unlink one of a user's identities, as ``DELETE /me/identities/{id}`` does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...flows.google import identity_remove
from ..base import UserCommand


class Command(UserCommand):
    help = "Unlink a user's linked identity (see the identities command); never their last way to sign in."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--identity", required=True, help="The identity id")

    def run(self, **options: Any) -> None:
        user = self.target(options)
        identity_id = options["identity"].strip()
        identity_remove(user=user, identity_id=identity_id)
        self.emit({"user_id": str(user.pk), "identity_id": identity_id, "unlinked": True},
                  f"unlinked identity {identity_id} of user {user.pk}")
