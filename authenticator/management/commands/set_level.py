"""Set a user's level (and tier)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from accounts.services import user_set_level

from ..base import UserCommand, describe_user, input_error, user_data

MAX_SMALLINT = 32767


class Command(UserCommand):
    help = "Set a user's level, and optionally tier (whole numbers from 1). New tokens carry the level."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--level", required=True, type=int)
        parser.add_argument("--tier", type=int, default=None)

    def run(self, **options: Any) -> None:
        for name in ("level", "tier"):
            value = options[name]
            if value is not None and not 1 <= value <= MAX_SMALLINT:
                raise input_error(name, f"Must be between 1 and {MAX_SMALLINT}.", "out_of_range")
        user = self.target(options)
        user_set_level(user=user, level=options["level"], tier=options["tier"])
        self.emit({"user": user_data(user)}, f"set: {describe_user(user)}")
