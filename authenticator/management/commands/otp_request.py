"""Ask for a sign-in code by SMS or email, exactly as a client app would."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from authenticator.core.background import wait_idle

from ...edge.inputs import OtpRequestIn
from ...flows.sign_in_otp import sign_in_otp_request
from ..base import FlowCommand, otp_sent_data, parse


class Command(FlowCommand):
    help = ("Request a sign-in code for --phone or --email. The answer is the same for unknown, "
            "inactive and known identifiers; only a known active account gets a code.")

    def add_arguments(self, parser: CommandParser) -> None:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--phone")
        who.add_argument("--email")
        parser.add_argument("--country", default=None, help="Region for a phone number written locally")
        parser.add_argument("--challenge-token", default=None,
                            help="A solved challenge's token, when the service asks for one (challenge_required)")

    def run(self, **options: Any) -> None:
        sent = sign_in_otp_request(**parse(OtpRequestIn, {
            "phone_number": options["phone"], "email": options["email"], "country_id": options["country"],
            "challenge_token": options["challenge_token"]},
            command="otp_request"))
        # The flow sends in the background (so its timing tells nothing); the process must
        # not end before the send has been made.
        wait_idle(timeout=60)
        self.emit(otp_sent_data(sent), f"if the account exists and is active, a code went by {sent.channel}; "
                                       f"it expires in {sent.expires_in} s")
