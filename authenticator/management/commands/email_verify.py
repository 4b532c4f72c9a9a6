"""Confirm a user's new email with the code sent to it, as ``POST /me/email/verify`` does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...edge.inputs import VerifyEmailIn
from ...flows.profile import profile_verify_email
from ..base import UserCommand, parse, profile_data, profile_lines


class Command(UserCommand):
    help = "Confirm the email a user's profile_update sent a code to: it becomes theirs, verified."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--otp", required=True, help="The code from the email")

    def run(self, **options: Any) -> None:
        user = self.target(options)
        user = profile_verify_email(user=user, **parse(VerifyEmailIn, {"otp": options["otp"]}, command="email_verify"))
        self.emit(profile_data(user), profile_lines(user))
