"""Show a user's profile, as ``GET /me`` answers it."""

from __future__ import annotations

from typing import Any

from ..base import UserCommand, profile_data, profile_lines


class Command(UserCommand):
    help = "Show a user's profile (the GET /me answer)."

    def run(self, **options: Any) -> None:
        user = self.target(options)
        self.emit(profile_data(user), profile_lines(user))
