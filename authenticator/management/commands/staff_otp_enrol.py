"""Enrol a staff member's second factor for the admin: TOTP app and backup codes."""

from __future__ import annotations

import io
from typing import Any

import segno
from django.core.management.base import CommandParser

from authenticator.flows.staff_otp import MAX_BACKUP_CODES, staff_otp_enrol
from ..base import UserCommand, describe_user, operator_label, user_data


class Command(UserCommand):
    help = ("Give a staff member a TOTP device (printed as an otpauth:// URI and a QR code to scan) "
            "and one-time backup codes, shown once. Without one they cannot open the admin.")

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--backup-codes", type=int, default=10, dest="backup_codes",
                            help=f"How many one-time backup codes (0-{MAX_BACKUP_CODES}; default 10)")
        parser.add_argument("--replace", action="store_true",
                            help="Remove the member's existing devices and codes first (they stop working)")

    def run(self, **options: Any) -> None:
        done = staff_otp_enrol(user=self.target(options), backup_codes=options["backup_codes"],
                               replace=options["replace"], actor_label=operator_label())
        data = {
            "user": user_data(done.user),
            "device": {"id": done.device.persistent_id, "name": done.device.name, "confirmed": done.device.confirmed},
            "provisioning_uri": done.provisioning_uri,
            "backup_codes": done.backup_codes,
            "replaced": done.replaced,
        }
        qr = io.StringIO()
        segno.make(done.provisioning_uri, error="m").terminal(out=qr, compact=True)
        lines = [
            f"enrolled: {describe_user(done.user)}" + (f" (replaced {done.replaced} device(s))" if done.replaced else ""),
            f"TOTP device {done.device.persistent_id}: scan the QR code with an authenticator app, or enter the URI:",
            done.provisioning_uri,
            *qr.getvalue().rstrip("\n").split("\n"),
        ]
        if done.backup_codes:
            lines += ["backup codes (each works once; shown only now — keep them offline):",
                      *(f"  {code}" for code in done.backup_codes)]
        self.emit(data, lines)
