"""Finish a sign-up with the SMS code; prints the tokens."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...edge.inputs import SignupVerifyIn
from ...flows.signup import signup_verify
from ..base import FlowCommand, parse, secret_value, signed_in_data, signed_in_lines


class Command(FlowCommand):
    help = "Verify a sign-up code: the user becomes active and is signed in; prints the tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--phone", required=True, help="The phone number signed up with")
        parser.add_argument("--otp", required=True, help="The code from the SMS")
        parser.add_argument("--device", default="", help='What to record as the device (default "cli")')
        parser.add_argument("--google-continuation", default=None,
                            help="From google_signin: links that Google account once the phone is verified; - reads it from stdin")

    def run(self, **options: Any) -> None:
        result = signup_verify(**parse(SignupVerifyIn, {
            "phone_number": options["phone"], "otp": options["otp"], "device": options["device"] or "cli",
            "google_continuation": secret_value(options["google_continuation"], field="google_continuation")},
            command="signup_verify"))
        self.emit(signed_in_data(result), signed_in_lines(result))
