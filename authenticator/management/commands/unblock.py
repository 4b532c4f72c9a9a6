from __future__ import annotations

from accounts.models import UserStatus

from ..base import StatusCommand


class Command(StatusCommand):
    help = "Make a blocked or suspended user active again (with --reason)."
    status, action, verb = UserStatus.ACTIVE, "unblock", "unblocked"
    # Not from unverified: that would skip the phone number's verification.
    from_statuses = frozenset({UserStatus.BLOCKED, UserStatus.SUSPENDED})
