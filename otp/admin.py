from __future__ import annotations

from django.contrib import admin

from .models import Otp

# Never the code: the stored value is a hash, and it is not shown either.
INLINE_FIELDS = ("created_at", "channel", "purpose", "attempts", "expired_at", "consumed_at")


class OtpInline(admin.TabularInline):
    """A user's recent codes on their admin page (time, channel, purpose, tries)."""

    model = Otp
    verbose_name_plural = "recent OTPs"
    extra = 0
    can_delete = False
    fields = INLINE_FIELDS
    readonly_fields = INLINE_FIELDS
    ordering = ("-created_at",)
    recent_limit = 20  # accounts.admin.UserAdmin shows only the most recent

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Otp)
class OtpAdmin(admin.ModelAdmin):
    # Never the code: the stored value is a hash, and it is not shown either.
    list_display = ("created_at", "user", "purpose", "channel", "attempts", "expired_at", "consumed_at")
    list_filter = ("purpose", "channel")
    search_fields = ("user__phone_number", "user__email", "user__name")
    exclude = ("otp",)
    readonly_fields = ("user", "purpose", "channel", "sent_to", "attempts", "created_at", "expired_at", "consumed_at")
    list_select_related = ("user",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
