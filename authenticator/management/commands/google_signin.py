"""Sign in with Google: a Firebase ID token, as ``POST /auth/google`` takes it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...edge import presenters
from ...edge.inputs import GoogleIn
from ...flows.google import PhoneVerificationRequired, google_sign_in
from ..base import FlowCommand, parse, secret_value, signed_in_data, signed_in_lines


class Command(FlowCommand):
    help = ("Sign in with a Firebase ID token (Google). A known Google account or a verified matching email "
            "signs in and prints the tokens; a new person gets the continuation to pass to signup and "
            "signup_verify (or signin, for an existing account) with --google-continuation.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id-token", required=True, help="The Firebase ID token; - reads it from stdin")
        parser.add_argument("--device", default="", help='What to record as the device (default "cli")')

    def run(self, **options: Any) -> None:
        result = google_sign_in(**parse(GoogleIn, {
            "id_token": secret_value(options["id_token"], field="id_token"), "device": options["device"] or "cli"},
            command="google_signin"))
        if isinstance(result, PhoneVerificationRequired):
            self.emit(presenters.phone_verification_required(result), [
                "phone verification required: no account has this Google identity yet",
                f"email: {result.email or '-'}", f"name: {result.name or '-'}",
                f"continuation (valid {result.expires_in} s): {result.continuation}",
                "next: signup --google-continuation ... then signup_verify --google-continuation ...",
            ])
            return
        self.emit(signed_in_data(result), signed_in_lines(result))
