from __future__ import annotations

from accounts.models import UserStatus

from ..base import StatusCommand


class Command(StatusCommand):
    help = "Suspend an active user (with --reason): every session is revoked until unblocked."
    status, verb = UserStatus.SUSPENDED, "suspended"
