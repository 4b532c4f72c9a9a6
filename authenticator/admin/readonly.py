"""Admin pages that show and never write: histories, audits, login states, codes."""

from __future__ import annotations


class ReadOnly:
    """Mix into a ModelAdmin or an inline: nobody adds, changes or deletes here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
