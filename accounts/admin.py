"""The support staff's admin: find an account, see its history and devices, act on it.

Actions (block / unblock / suspend, sign out everywhere, set level) go through an
intermediate form page that asks for the reason (and the level), then call the service
layer — ``account_set_status``, ``sessions_revoke_all``, ``user_set_level`` — and nothing
else; each success is written to Django's admin log (LogEntry) as well. The same form
serves one user (buttons on the user's page) and a selection (changelist actions).

Who may do what is Django permissions: the ``Support`` group (accounts migration 0004)
has view permissions on users, status histories, login states, OTPs and linked
identities, plus ``accounts.block_user``, ``accounts.signout_user`` and
``accounts.set_level``. Staff who are not superusers never see the staff fields
(password, groups, permissions) and cannot act on staff accounts; nobody acts on
their own account here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from authenticator.conf import app_settings
from authenticator.errors import ApplicationError

from .models import SocialIdentity, StatusHistory, User, UserStatus

# A bulk action lists every selected user on its form page; more is a job for the CLI.
MAX_BULK = 500


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


class SocialIdentityInline(admin.TabularInline):
    model = SocialIdentity
    verbose_name_plural = "linked identities"
    extra = 0
    can_delete = False
    fields = ("provider", "uid", "email", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _inlines() -> list[type[admin.options.InlineModelAdmin]]:
    # Imported late: the other apps' admin modules import nothing from here, and this
    # keeps app loading order irrelevant.
    from otp.admin import OtpInline
    from sessions_log.admin import LoginStateInline

    return [StatusHistoryInline, LoginStateInline, OtpInline, SocialIdentityInline]


# -- actions -----------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             help_text="Recorded in the status history with your name.")


class SignOutForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             help_text="Optional; recorded in the admin log.")


class LevelForm(forms.Form):
    level = forms.IntegerField(min_value=1, max_value=32767)
    tier = forms.IntegerField(min_value=1, max_value=32767, required=False, help_text="Leave empty to keep the tier.")
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             help_text="Optional; recorded in the admin log.")


class Skipped(Exception):
    """Nothing to do for this user (e.g. already blocked); reported, not an error."""


def _set_status(status: str) -> Callable[..., str]:
    def run(*, user: User, actor: User, data: dict[str, Any]) -> str:
        from authenticator.flows.account_status import account_set_status

        if user.status == status:
            raise Skipped(f"already {status}")
        previous = user.status
        account_set_status(user=user, status=status, reason=data["reason"], actor=actor, actor_label="admin")
        return f"Status {previous} → {status}. Reason: {data['reason']}"

    return run


def _sign_out(*, user: User, actor: User, data: dict[str, Any]) -> str:
    from authenticator.flows.tokens import sessions_revoke_all
    from sessions_log.models import EndedReason

    ended = sessions_revoke_all(user_id=user.pk, reason=EndedReason.REVOKED_BY_SUPPORT)
    return f"Signed out everywhere ({ended} active session(s) revoked). Reason: {data.get('reason') or '-'}"


def _set_level(*, user: User, actor: User, data: dict[str, Any]) -> str:
    from .services import user_set_level

    before = (user.tier, user.level)
    user_set_level(user=user, level=data["level"], tier=data.get("tier"))
    return f"Tier/level {before[0]}/{before[1]} → {user.tier}/{user.level}. Reason: {data.get('reason') or '-'}"


@dataclass(frozen=True)
class SupportAction:
    kind: str
    label: str  # button text and page title
    done: str  # "Blocked 3 user(s)."
    permission: str  # has_<permission>_permission on the admin
    form: type[forms.Form]
    run: Callable[..., str]

    @property
    def bulk_name(self) -> str:
        return f"{self.kind}_users"


ACTIONS: dict[str, SupportAction] = {
    a.kind: a
    for a in (
        SupportAction("block", "Block", "Blocked", "block", ReasonForm, _set_status(UserStatus.BLOCKED)),
        SupportAction("suspend", "Suspend", "Suspended", "block", ReasonForm, _set_status(UserStatus.SUSPENDED)),
        SupportAction("unblock", "Unblock (make active)", "Unblocked", "block", ReasonForm, _set_status(UserStatus.ACTIVE)),
        SupportAction("signout", "Sign out everywhere", "Signed out", "signout", SignOutForm, _sign_out),
        SupportAction("set_level", "Set level", "Set the level of", "set_level", LevelForm, _set_level),
    )
}


def _bulk(kind: str):
    action = ACTIONS[kind]

    @admin.action(permissions=[action.permission], description=f"{action.label} the selected users")
    def bulk(modeladmin: UserAdmin, request: HttpRequest, queryset):
        return modeladmin.support_action(request, queryset, kind, bulk=True)

    bulk.__name__ = action.bulk_name
    return bulk


# -- the user admin ----------------------------------------------------------------------


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("id", "phone_number", "name", "email", "status", "type", "tier", "level", "country_id", "created_at")
    list_filter = ("status", "type", "tier", "level", "country_id", "is_staff")
    search_fields = ("phone_number", "email", "name")
    search_help_text = "A phone number in any common format (local numbers: your country's), an email, a name or an id."
    ordering = ("-created_at",)
    # Status, tier and level change only through the actions (service layer, history, audit).
    readonly_fields = ("id", "type", "status", "tier", "level", "created_at", "updated_at", "last_login", "phone_verified_at", "email_verified_at")
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
    actions = tuple(_bulk(kind) for kind in ACTIONS)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change:  # every account's history starts with its creation, as in user_create
            StatusHistory.objects.create(user=obj, status=obj.status, previous_status=None,
                                         reason="created in the admin", actor=request.user, actor_label="admin")

    # -- what a user's page shows ----------------------------------------------------------

    def get_inlines(self, request, obj):
        return _inlines() if obj else []

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not request.user.is_superuser:
            fieldsets = tuple(fs for fs in fieldsets if fs[0] != "Staff")
        return fieldsets

    def get_formset_kwargs(self, request, obj, inline, prefix):
        # Login states and OTPs grow without bound: the page shows the most recent ones.
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        limit = getattr(inline, "recent_limit", None)
        if limit and obj is not None and obj.pk is not None:
            queryset = kwargs["queryset"]
            recent = list(queryset.filter(user=obj).values_list("pk", flat=True)[:limit])
            kwargs["queryset"] = queryset.filter(pk__in=recent)
        return kwargs

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "support_actions": self._buttons(request, object_id)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _buttons(self, request: HttpRequest, object_id: str) -> list[dict[str, str]]:
        return [
            {"label": action.label, "url": reverse("admin:accounts_user_support_action", args=[object_id, kind])}
            for kind, action in ACTIONS.items()
            if self._may(request, action)
        ]

    # -- search ------------------------------------------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        """Also find by id, and by a phone number typed in any common format.

        A number without a country code is read as a local number of the staff member's
        own country and of each of AUTHENTICATOR["ADMIN_PHONE_REGIONS"]; every reading
        that is a valid number is looked up.
        """
        from .validation import normalise_phone

        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return queryset, may_have_duplicates
        extra = Q()
        if term.isdigit() and len(term) <= 19 and int(term) < 2**63:
            extra |= Q(pk=int(term))
        regions = dict.fromkeys([None, getattr(request.user, "country_id", None) or None, *app_settings.ADMIN_PHONE_REGIONS])
        phones = set()
        for region in regions:
            try:
                phones.add(normalise_phone(term, region))
            except Exception:  # noqa: BLE001, S112 - not a phone number in that region
                continue
        if phones:
            extra |= Q(phone_number__in=phones)
        if extra:
            queryset |= self.model.objects.filter(extra)
        return queryset, may_have_duplicates

    # -- actions -----------------------------------------------------------------------------

    def has_block_permission(self, request) -> bool:
        return request.user.has_perm("accounts.block_user")

    def has_signout_permission(self, request) -> bool:
        return request.user.has_perm("accounts.signout_user")

    def has_set_level_permission(self, request) -> bool:
        return request.user.has_perm("accounts.set_level")

    def _may(self, request: HttpRequest, action: SupportAction) -> bool:
        return getattr(self, f"has_{action.permission}_permission")(request)

    def get_urls(self):
        view = self.admin_site.admin_view(self.support_action_view)
        return [path("<path:object_id>/support/<str:kind>/", view, name="accounts_user_support_action"), *super().get_urls()]

    def support_action_view(self, request: HttpRequest, object_id: str, kind: str) -> HttpResponse:
        """One user's action page (the buttons on the user's page)."""
        if kind not in ACTIONS:
            raise Http404
        user = self.get_object(request, unquote(object_id))
        if user is None or not self.has_view_permission(request, user):
            raise Http404
        response = self.support_action(request, User.objects.filter(pk=user.pk), kind, bulk=False)
        return response or HttpResponseRedirect(reverse("admin:accounts_user_change", args=[user.pk]))

    def support_action(self, request: HttpRequest, queryset, kind: str, *, bulk: bool) -> HttpResponse | None:
        """Show the action's form for these users, or, when it was submitted valid, act.

        Returns None when done (the caller redirects), else the form page.
        """
        action = ACTIONS[kind]
        if not self._may(request, action):
            raise PermissionDenied
        users = list(queryset.order_by("pk")[: MAX_BULK + 1])
        if len(users) > MAX_BULK:
            self.message_user(request, f"Select at most {MAX_BULK} users at once (or use the management commands).", messages.ERROR)
            return None
        form = action.form(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._apply(request, users, action, form.cleaned_data)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action.label}: {len(users)} user(s)" if bulk else f"{action.label}: {users[0]}",
            "opts": self.model._meta,
            "users": users,
            "form": form,
            "action": action,
            "bulk": bulk,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/user/support_action.html", context)

    def _apply(self, request: HttpRequest, users: list[User], action: SupportAction, data: dict[str, Any]) -> None:
        done = 0
        for user in users:
            refusal = self._refusal(request, user)
            if refusal:
                self.message_user(request, f"{user}: {refusal}", messages.ERROR)
                continue
            try:
                change = action.run(user=user, actor=request.user, data=data)
            except Skipped as why:
                self.message_user(request, f"{user}: {why}; nothing changed.", messages.WARNING)
                continue
            except ApplicationError as exc:  # InvalidStatusTransition, TokenizerUnavailable...
                self.message_user(request, f"{user}: {exc.detail} Nothing changed.", messages.ERROR)
                continue
            self.log_change(request, user, change)
            done += 1
        if done:
            self.message_user(request, f"{action.done} {done} user(s).", messages.SUCCESS)

    @staticmethod
    def _refusal(request: HttpRequest, user: User) -> str:
        if user.pk == request.user.pk:
            return "you cannot act on your own account here."
        if (user.is_staff or user.is_superuser) and not request.user.is_superuser:
            return "only a superuser can act on a staff account."
        return ""


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


@admin.register(LogEntry)
class LogEntryAdmin(admin.ModelAdmin):
    """The admin's own audit trail, read-only, for superusers."""

    list_display = ("action_time", "user", "content_type", "object_repr", "action_flag", "change_message")
    list_filter = ("action_flag", "content_type")
    search_fields = ("object_repr", "change_message", "user__phone_number", "user__name")
    date_hierarchy = "action_time"
    list_select_related = ("user", "content_type")

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
