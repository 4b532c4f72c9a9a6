"""How many users are in each status."""

from __future__ import annotations

from typing import Any

from accounts.selectors import user_counts_by_status

from ..base import FlowCommand


class Command(FlowCommand):
    help = "Count users by status."

    def run(self, **options: Any) -> None:
        counts = user_counts_by_status()
        total = sum(counts.values())
        width = max(len(status) for status in counts)
        lines = [f"{status:<{width}}  {count}" for status, count in counts.items()] + [f"{'total':<{width}}  {total}"]
        self.emit({"counts": counts, "total": total}, lines)
