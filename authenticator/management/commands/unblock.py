from __future__ import annotations

from accounts.models import UserStatus

from ..base import StatusCommand


class Command(StatusCommand):
    help = "Make a blocked or suspended user active again (with --reason)."
    status, verb = UserStatus.ACTIVE, "unblocked"
