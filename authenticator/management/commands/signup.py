"""Start a sign-up: ``manage.py signup --phone +447400123456 --country GB --name Ann``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...edge.inputs import SignupIn
from ...flows.signup import signup_start
from ..base import FlowCommand, otp_sent_data, parse, secret_value


class Command(FlowCommand):
    help = "Sign up a user: created unverified, a code goes by SMS (finish with signup_verify)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--phone", required=True, help="Phone number, international or written locally for --country")
        parser.add_argument("--country", required=True, help="ISO 3166-1 alpha-2 country of the phone number")
        parser.add_argument("--name", required=True)
        parser.add_argument("--salutation", default=None)
        parser.add_argument("--email", default=None)
        parser.add_argument("--challenge-token", default=None,
                            help="A solved challenge's token, when the service asks for one (challenge_required)")
        parser.add_argument("--google-continuation", default=None,
                            help="From google_signin: links that Google account once the phone is verified; - reads it from stdin")

    def run(self, **options: Any) -> None:
        sent = signup_start(**parse(SignupIn, {
            "phone_number": options["phone"], "country_id": options["country"], "name": options["name"],
            "salutation": options["salutation"], "email": options["email"],
            "challenge_token": options["challenge_token"],
            "google_continuation": secret_value(options["google_continuation"], field="google_continuation")},
            command="signup"),
            wait=True)  # an operator: the send happens before the command ends, its failure is the exit status
        self.emit(otp_sent_data(sent), f"code sent by {sent.channel}; it expires in {sent.expires_in} s, "
                                       f"a new one can be asked for after {sent.resend_after} s")
