from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Q

from .models import StatusHistory, User


class StatusHistoryInline(admin.TabularInline):
    model = StatusHistory
    fk_name = "user"
    extra = 0
    can_delete = False
    fields = ("updated_at", "previous_status", "status", "reason", "actor", "actor_label")
    readonly_fields = fields
    ordering = ("-updated_at",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _login_state_inline():
    from sessions_log.admin import LoginStateInline

    return LoginStateInline


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("id", "phone_number", "name", "email", "status", "type", "tier", "level", "country_id", "created_at")
    list_filter = ("status", "type", "tier", "level", "country_id", "is_staff")
    search_fields = ("phone_number", "email", "name")
    ordering = ("-created_at",)
    readonly_fields = ("id", "type", "status", "created_at", "updated_at", "last_login", "phone_verified_at", "email_verified_at")
    fieldsets = (
        (None, {"fields": ("id", "phone_number", "country_id", "name", "salutation", "email")}),
        ("Status", {"fields": ("type", "status", "tier", "level", "phone_verified_at", "email_verified_at")}),
        ("Staff", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions", "password")}),
        ("Times", {"fields": ("created_at", "updated_at", "last_login")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("phone_number", "country_id", "name", "password1", "password2")}),
    )
    filter_horizontal = ("groups", "user_permissions")

    def get_inlines(self, request, obj):
        return [StatusHistoryInline, _login_state_inline()] if obj else []

    def get_search_results(self, request, queryset, search_term):
        """Also find by id and by a phone number typed in any common format."""
        from .validation import normalise_phone

        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        extra = Q()
        if term.isdigit() and len(term) <= 19:
            extra |= Q(pk=int(term))
        for region in (None, "US", "GB", "DE", "IN"):
            try:
                extra |= Q(phone_number=normalise_phone(term, region))
                break
            except Exception:
                continue
        if extra:
            queryset |= self.model.objects.filter(extra)
        return queryset, may_have_duplicates


@admin.register(StatusHistory)
class StatusHistoryAdmin(admin.ModelAdmin):
    list_display = ("updated_at", "user", "previous_status", "status", "reason", "actor", "actor_label")
    list_filter = ("status",)
    search_fields = ("user__phone_number", "user__email", "user__name", "reason")
    raw_id_fields = ("user", "actor")
    list_select_related = ("user", "actor")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
