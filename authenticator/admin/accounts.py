"""The support staff's admin: find an account, see its history and devices, act on it.

Actions (block / unblock / suspend, sign out everywhere, set level) go through an
intermediate form page that asks for the reason (and the level), then call the service
layer — ``account_set_status``, ``sessions_revoke_all``, ``user_set_level`` — and nothing
else; each success is written to Django's admin log (LogEntry) as well. The same form
serves one user (buttons on the user's page) and a selection (changelist actions).

Who may do what is Django permissions: the ``Support`` group (accounts migration 0004)
has view permissions on users, status histories, login states, OTPs and linked
identities, plus ``accounts.block_user``, ``accounts.signout_user`` and
``accounts.set_level``. On top of any permission, staff who are not superusers never
see or set the staff fields (password, groups, permissions, staff status) or the phone
number, and cannot act on staff accounts or their own by any page here (change form,
password, history, actions); nobody grants a permission they do not hold (groups);
nobody deletes an account here (a deleted account is a status: ``manage.py delete_user``).

Every write goes through the service layer (``accounts.services``), which writes an
audit row (``StaffChange``) per changed field in the same transaction; the rows are
shown on the user's page and are read-only everywhere.
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
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts import services
from accounts.models import (
    LEVEL_MAX,
    LEVEL_MIN,
    SocialIdentity,
    StaffChange,
    StatusHistory,
    User,
    UserStatus,
)
from accounts.selectors import (
    group_has_staff,
    permissions_held,
    permissions_not_held,
    staff_may_act_on,
)
from accounts.validation import normalise_phone
from authenticator.core.conf import app_settings
from authenticator.core.errors import ApplicationError, StaffNotAllowed
from authenticator.flows.account_status import account_set_status
from authenticator.flows.tokens import sessions_revoke_all
from sessions_log.models import EndedReason

from .otp import DeliveryInline, OtpInline
from .readonly import ReadOnly
from .sessions_log import LoginStateInline

# A bulk action lists every selected user on its form page; more is a job for the CLI.
MAX_BULK = 500


class StatusHistoryInline(ReadOnly, admin.TabularInline):
    model = StatusHistory
    fk_name = "user"
    extra = 0
    can_delete = False
    fields = ("updated_at", "previous_status", "status", "reason", "actor", "actor_label")
    readonly_fields = fields
    ordering = ("-updated_at",)


class SocialIdentityInline(ReadOnly, admin.TabularInline):
    model = SocialIdentity
    verbose_name_plural = "linked identities"
    extra = 0
    can_delete = False
    fields = ("provider", "uid", "email", "created_at", "last_used_at")
    readonly_fields = fields


AUDIT_FIELDS = ("changed_at", "field", "old_value", "new_value", "reason", "actor")


ROLE_FIELDS = ("is_staff", "is_superuser", "is_active", "groups", "user_permissions", "password", "second_factor")


class StaffChangeInline(ReadOnly, admin.TabularInline):
    model = StaffChange
    fk_name = "user"
    verbose_name_plural = "changes by staff"
    extra = 0
    can_delete = False
    fields = AUDIT_FIELDS
    readonly_fields = AUDIT_FIELDS
    ordering = ("-changed_at", "-id")
    recent_limit = 50

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever may see the account sees who changed it.
        return request.user.has_perm("accounts.view_user") or request.user.has_perm("accounts.change_user")

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        if request.user.is_superuser:
            return rows
        # Support sees no staff fields, so no changes of them either (who was made staff
        # or superuser, passwords, second factors).
        return rows.exclude(field__in=ROLE_FIELDS)


INLINES = [StatusHistoryInline, LoginStateInline, OtpInline, DeliveryInline, SocialIdentityInline, StaffChangeInline]


# -- actions -----------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             help_text="Recorded in the status history with your name.")


class SignOutForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             help_text="Optional; recorded in the admin log.")


class LevelForm(forms.Form):
    level = forms.IntegerField(min_value=LEVEL_MIN, max_value=LEVEL_MAX)
    tier = forms.IntegerField(min_value=LEVEL_MIN, max_value=LEVEL_MAX, required=False, help_text="Leave empty to keep the tier.")
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             help_text="Optional; recorded in the admin log.")


class Skipped(Exception):
    """Nothing to do for this user (e.g. already blocked); reported, not an error."""


def _set_status(status: str) -> Callable[..., str]:
    def run(*, user: User, actor: User, data: dict[str, Any]) -> str:
        if user.status == status:
            raise Skipped(f"already {status}")
        previous = user.status
        account_set_status(user=user, status=status, reason=data["reason"], actor=actor, actor_label="admin")
        return f"Status {previous} → {status}. Reason: {data['reason']}"

    return run


def _sign_out(*, user: User, actor: User, data: dict[str, Any]) -> str:
    ended = sessions_revoke_all(user_id=user.pk, reason=EndedReason.REVOKED_BY_SUPPORT)
    services.staff_change_record(user=user, actor=actor, field="sessions", new=f"{ended} revoked", reason=data.get("reason") or "")
    return f"Signed out everywhere ({ended} active session(s) revoked). Reason: {data.get('reason') or '-'}"


def _set_level(*, user: User, actor: User, data: dict[str, Any]) -> str:
    before = (user.tier, user.level)
    services.user_set_level(user=user, level=data["level"], tier=data.get("tier"), actor=actor, reason=data.get("reason") or "")
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


class SupportUserCreationForm(forms.ModelForm):
    """The add form of staff who are not superusers: an account without a password."""

    class Meta:
        model = User
        fields = ("phone_number", "country_id", "name")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("id", "phone_number", "name", "email", "status", "type", "tier", "level", "country_id", "created_at")
    list_filter = ("status", "type", "tier", "level", "country_id", "is_staff")

    def get_list_filter(self, request):
        # Who is staff is a staff field: superusers only (and so only they may filter by it).
        return self.list_filter if request.user.is_superuser else tuple(f for f in self.list_filter if f != "is_staff")
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

    # -- who may do what, on top of the model permissions ---------------------------------

    def has_change_permission(self, request, obj=None) -> bool:
        # The change form, the password page and the inlines all ask this with the account.
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or staff_may_act_on(actor=request.user, user=obj))

    def has_delete_permission(self, request, obj=None) -> bool:
        # A hard delete would take the account's history and audit with it; deleting is a
        # status (manage.py delete_user), which keeps both.
        return False

    def history_view(self, request, object_id, extra_context=None):
        # The admin log is for superusers (LogEntryAdmin); this page is a view of it.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None and not request.user.is_superuser:
            # No password: whoever set one would know the sign-in of an account a
            # superuser might later make staff. Superusers set passwords.
            kwargs["form"] = SupportUserCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None and not request.user.is_superuser:
            return ((None, {"fields": SupportUserCreationForm.Meta.fields}),)
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not request.user.is_superuser:
            fieldsets = tuple(fs for fs in fieldsets if fs[0] != "Staff")
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and not request.user.is_superuser:
            # Sign-in codes go to the phone number: whoever sets it can sign in as the user.
            fields = (*fields, "phone_number", "country_id")
        return fields

    # -- writes: each one a service call, audited there ------------------------------------

    def save_model(self, request, obj, form, change) -> None:
        try:
            if not change:
                data = form.cleaned_data
                password = data.get("password1") if data.get("set_usable_password", True) else None
                user = services.user_create_by_staff(actor=request.user, phone_number=obj.phone_number,
                                                     country_id=obj.country_id, name=obj.name, password=password or None)
                obj.pk, obj._state.adding, obj._state.db = user.pk, False, user._state.db
                return
            fields = [f for f in form.changed_data if f in services.USER_FIELDS]
            services.user_update_by_staff(user=obj, actor=request.user, changes={f: form.cleaned_data[f] for f in fields})
        except StaffNotAllowed as exc:  # the permission checks above come first; this is the last line
            raise PermissionDenied(exc.detail) from exc

    def save_related(self, request, form, formsets, change) -> None:
        # Groups and permissions were set by the service (save_model); the inlines are read-only.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def user_change_password(self, request, id, form_url=""):
        """Superusers only: a password is a staff sign-in, and plain users have none."""
        if not request.user.is_superuser:
            raise PermissionDenied
        user = self.get_object(request, unquote(id))
        if user is not None and request.method == "POST":
            form = self.change_password_form(user, request.POST)
            if form.is_valid() and (form.cleaned_data["set_usable_password"] or "unset-password" in request.POST):
                password = form.cleaned_data["password1"] if form.cleaned_data["set_usable_password"] else None
                services.user_set_password_by_staff(user=user, actor=request.user, password=password)
                self.log_change(request, user, self.construct_change_message(request, form, None))
                self.message_user(request, "Password changed successfully." if password else "Password-based authentication was disabled.", messages.SUCCESS)
                update_session_auth_hash(request, user)
                return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[user.pk]))
        # The form page, its errors and "not found" as Django draws them.
        return super().user_change_password(request, id, form_url)

    # -- what a user's page shows ----------------------------------------------------------

    def get_inlines(self, request, obj):
        return INLINES if obj else []

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
        user = self.get_object(request, unquote(object_id))
        if user is None or self._refusal(request, user):
            return []
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
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return queryset, may_have_duplicates
        extra = Q()
        if term.isascii() and term.isdigit() and len(term) <= 19 and int(term) < 2**63:  # "²".isdigit() too
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
        if self._refusal(request, user):
            raise PermissionDenied
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
class StatusHistoryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("updated_at", "user", "previous_status", "status", "reason", "actor", "actor_label")
    list_filter = ("status",)
    search_fields = ("user__phone_number", "user__email", "user__name", "reason")
    raw_id_fields = ("user", "actor")
    list_select_related = ("user", "actor")


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnly, admin.ModelAdmin):
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


@admin.register(StaffChange)
class StaffChangeAdmin(ReadOnly, admin.ModelAdmin):
    """Every change staff made to users' data, across accounts; nobody edits it."""

    list_display = ("changed_at", "user", "field", "old_value", "new_value", "reason", "actor")
    list_filter = ("field",)
    search_fields = ("user__phone_number", "user__email", "user__name", "reason")
    raw_id_fields = ("user", "actor")
    list_select_related = ("user", "actor")


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin):
    """Groups are roles: a staff member who is not a superuser changes only a group no
    staff member is in (not their own), and offers only the permissions they hold."""

    def _may_write(self, request: HttpRequest, group: Group | None) -> bool:
        if request.user.is_superuser or group is None:
            return True
        return not group_has_staff(group=group) and not permissions_not_held(actor=request.user, permissions=group.permissions.select_related("content_type"))

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._may_write(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_write(request, obj)

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name == "permissions" and request is not None and not request.user.is_superuser:
            kwargs["queryset"] = permissions_held(actor=request.user)
        return super().formfield_for_manytomany(db_field, request=request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        pass  # saved with its permissions, by the service, in save_related

    def save_related(self, request, form, formsets, change) -> None:
        try:
            services.group_save_by_staff(group=form.instance, actor=request.user, permissions=form.cleaned_data["permissions"])
        except StaffNotAllowed as exc:
            raise PermissionDenied(exc.detail) from exc
