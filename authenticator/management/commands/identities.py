"""List a user's linked sign-in identities (Google), as ``GET /me/identities`` does."""

from __future__ import annotations

from typing import Any

from ...flows.google import identities_list
from ..base import UserCommand, identity_data


def identity_line(link) -> str:
    used = link.last_used_at.isoformat() if link.last_used_at else "never"
    return f"{link.pk}  {link.provider}  {link.email or '-'}  linked {link.created_at.isoformat()}  last used {used}"


class Command(UserCommand):
    help = "List a user's linked Google identities."

    def run(self, **options: Any) -> None:
        user = self.target(options)
        links = identities_list(user=user)
        self.emit({"user_id": str(user.pk), "identities": [identity_data(link) for link in links]},
                  [identity_line(link) for link in links] or ["no linked identities"])
