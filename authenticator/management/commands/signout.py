"""Sign a user out: every session, or one with --session."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from sessions_log.models import EndedReason

from authenticator.flows.tokens import session_revoke, sessions_revoke_all
from ..base import UserCommand


class Command(UserCommand):
    help = "Revoke a user's sessions (tokens and login states): all of them, or one with --session."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--session", default=None, help="Only this session id (see the sessions command)")

    def run(self, **options: Any) -> None:
        user = self.target(options)
        if options["session"]:
            session_revoke(user=user, session_id=options["session"].strip(), reason=EndedReason.REVOKED_BY_OPERATOR)
            revoked = 1
        else:
            revoked = sessions_revoke_all(user_id=user.pk, reason=EndedReason.REVOKED_BY_OPERATOR)
        self.emit({"user_id": str(user.pk), "revoked": revoked}, f"revoked {revoked} session(s) of user {user.pk}")
