"""Change a user's profile through ``profile_update``, as ``PATCH /me`` does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from authenticator.core.background import wait_idle

from ...edge.inputs import ProfileIn
from ...flows.profile import profile_update
from ..base import UserCommand, parse, profile_data, profile_lines


class Command(UserCommand):
    help = ("Change a user's name, salutation (\"\" clears it) or email. A new email counts only once the "
            "code sent to it is confirmed (email_verify); until then it is pending.")

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--name", default=None)
        parser.add_argument("--salutation", default=None, help='The salutation; "" clears it')
        parser.add_argument("--email", default=None, help="A new email address: a code is sent to it")

    def run(self, **options: Any) -> None:
        user = self.target(options)
        result = profile_update(user=user, **parse(ProfileIn, {
            "name": options["name"], "salutation": options["salutation"], "email": options["email"]},
            command="profile_update"))
        if result.email_pending:
            wait_idle(timeout=60)  # the code's email must have left before the process ends
        self.emit(profile_data(result.user, result.email_pending), profile_lines(result.user, result.email_pending))
