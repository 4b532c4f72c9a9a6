from __future__ import annotations

from accounts.models import UserStatus

from ..base import StatusCommand


class Command(StatusCommand):
    help = "Block a user (with --reason): every session is revoked, no codes or tokens until unblocked."
    status, verb = UserStatus.BLOCKED, "blocked"
