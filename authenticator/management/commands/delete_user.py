from __future__ import annotations

from accounts.models import UserStatus

from ..base import StatusCommand


class Command(StatusCommand):
    help = ("Mark a user deleted (with --reason): sessions revoked, no codes or tokens. Final: "
            "a deleted account cannot be reactivated. The row and its history are kept.")
    status, verb = UserStatus.DELETED, "deleted"
