from __future__ import annotations

from django.contrib import admin

from authenticator.admin.readonly import ReadOnly
from sessions_log.models import LoginState

FIELDS = ("id", "logged_in_on", "logged_in_from", "logged_in_ip", "method", "status", "ended_reason", "logged_in_at", "logged_out_at", "user_agent")


class LoginStateInline(ReadOnly, admin.TabularInline):
    model = LoginState
    extra = 0
    can_delete = False
    fields = FIELDS
    readonly_fields = FIELDS
    ordering = ("-logged_in_at",)
    show_change_link = True
    recent_limit = 50  # authenticator.admin.accounts.UserAdmin shows only the most recent


@admin.register(LoginState)
class LoginStateAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("logged_in_at", "user", "logged_in_on", "logged_in_from", "logged_in_ip", "status", "ended_reason", "logged_out_at")
    list_filter = ("status", "ended_reason", "method")
    search_fields = ("user__phone_number", "user__email", "user__name", "logged_in_ip")
    readonly_fields = ("user", *FIELDS)
    list_select_related = ("user",)
