from __future__ import annotations

from django.contrib import admin

from .models import Otp


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
