"""Show a user's wrong-code counts per channel; with --reset, clear one (the way back)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from otp.services import CHANNELS, otp_lockout_reset, otp_lockout_status

from ..base import (
    UserCommand,
    _one_line,
    describe_user,
    input_error,
    operator_label,
    user_data,
)


class Command(UserCommand):
    help = ("Show how many wrong codes a user's phone (sms) and email channels have had in the window, and until "
            "when new codes are born locked; --reset CHANNEL --reason TEXT makes the earlier ones stop counting.")

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--reset", choices=CHANNELS, default=None, help="The channel to reset")
        parser.add_argument("--reason", default="", help="Why (required with --reset); kept with the reset")

    def run(self, **options: Any) -> None:
        user = self.target(options)
        reason = _one_line(options["reason"])
        if options["reset"]:
            if not reason:
                raise input_error("reason", "Give a reason.", "required")
            otp_lockout_reset(user_id=user.pk, channel=options["reset"], reason=reason, actor_label=operator_label())
        states = [otp_lockout_status(user_id=user.pk, channel=channel) for channel in CHANNELS]
        data = {"user": user_data(user), "reset": options["reset"], "channels": {
            s.channel: {"failures": s.failures, "ceiling": s.ceiling, "locked_until": s.locked_until} for s in states}}
        self.emit(data, [describe_user(user), *(f"  {s}" for s in states)])
