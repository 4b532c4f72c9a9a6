"""List a user's login states."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from authenticator.flows.tokens import sessions_list
from ..base import UserCommand, session_data, session_line


class Command(UserCommand):
    help = "List a user's active sessions (the latest 100); --all includes ended ones."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--all", action="store_true", help="Include ended sessions")

    def run(self, **options: Any) -> None:
        user = self.target(options)
        states = sessions_list(user=user, active_only=not options["all"])
        lines = [session_line(state) for state in states] or ["no sessions"]
        self.emit({"user_id": str(user.pk), "sessions": [session_data(state) for state in states]}, lines)
