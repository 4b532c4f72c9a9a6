"""Sign in with a code sent by otp_request; prints the tokens."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...edge.inputs import OtpVerifyIn
from ...flows.sign_in_otp import sign_in_otp_verify
from ..base import FlowCommand, parse, secret_value, signed_in_data, signed_in_lines


class Command(FlowCommand):
    help = "Sign in with --phone or --email and the code they received; prints the tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--phone")
        who.add_argument("--email")
        parser.add_argument("--country", default=None, help="Region for a phone number written locally")
        parser.add_argument("--otp", required=True, help="The code received")
        parser.add_argument("--device", default="", help='What to record as the device (default "cli")')
        parser.add_argument("--google-continuation", default=None,
                            help="From google_signin: links that Google account once the phone is verified; - reads it from stdin")

    def run(self, **options: Any) -> None:
        result = sign_in_otp_verify(**parse(OtpVerifyIn, {
            "phone_number": options["phone"], "email": options["email"], "country_id": options["country"],
            "otp": options["otp"], "device": options["device"] or "cli",
            "google_continuation": secret_value(options["google_continuation"], field="google_continuation")},
            command="signin"))
        self.emit(signed_in_data(result), signed_in_lines(result))
