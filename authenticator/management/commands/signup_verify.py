"""Finish a sign-up with the SMS code; prints the tokens."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from authenticator.flows.signup import signup_verify
from ..base import (
    FlowCommand,
    cli_device,
    otp_argument,
    signed_in_data,
    signed_in_lines,
)


class Command(FlowCommand):
    help = "Verify a sign-up code: the user becomes active and is signed in; prints the tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--phone", required=True, help="The phone number signed up with")
        parser.add_argument("--otp", required=True, help="The code from the SMS")
        parser.add_argument("--device", default="", help='What to record as the device (default "cli")')

    def run(self, **options: Any) -> None:
        code = otp_argument(options["otp"])
        result = signup_verify(phone_number=options["phone"], code=code, device=cli_device(options["device"], "signup_verify"))
        self.emit(signed_in_data(result), signed_in_lines(result))
