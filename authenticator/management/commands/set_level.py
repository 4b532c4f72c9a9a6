"""Set a user's level (and tier)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from accounts.services import levels_check, user_set_level

from ..base import UserCommand, describe_user, user_data


class Command(UserCommand):
    help = "Set a user's level, and optionally tier (whole numbers from 1). New tokens carry the level."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--level", required=True, type=int)
        parser.add_argument("--tier", type=int, default=None)

    def run(self, **options: Any) -> None:
        levels_check(level=options["level"], tier=options["tier"])  # before the lookup: a typo costs no query
        user = self.target(options)
        user_set_level(user=user, level=options["level"], tier=options["tier"])
        self.emit({"user": user_data(user)}, f"set: {describe_user(user)}")
