from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.selectors import staff_may_act_on
from accounts.services import staff_change_record
from authenticator.admin.readonly import ReadOnly
from otp.models import Delivery, Otp, OtpLockoutReset
from otp.services import otp_lockout_reset, otp_lockout_status

# Never the code: the stored value is a hash, and it is not shown either.
INLINE_FIELDS = ("created_at", "channel", "purpose", "attempts", "expired_at", "consumed_at")


def lockout_of(obj: Otp) -> str:
    """Why this code's account may be throttled: its channel's wrong codes in the window,
    and until when new codes are born locked."""
    if obj is None or obj.pk is None:
        return "-"
    return str(otp_lockout_status(user_id=obj.user_id, channel=obj.channel))


class OtpInline(ReadOnly, admin.TabularInline):
    """A user's recent codes on their admin page (time, channel, purpose, tries, and the
    account's wrong-code count on that channel)."""

    model = Otp
    verbose_name_plural = "recent OTPs"
    extra = 0
    can_delete = False
    fields = (*INLINE_FIELDS, "account_lockout")
    readonly_fields = (*INLINE_FIELDS, "account_lockout")
    ordering = ("-created_at",)
    recent_limit = 20  # authenticator.admin.accounts.UserAdmin shows only the most recent

    @admin.display(description="account lockout (this channel)")
    def account_lockout(self, obj: Otp) -> str:
        return lockout_of(obj)


# What support needs for "I never got the code": where each message is, never what it said.
DELIVERY_FIELDS = ("created_at", "purpose", "channel", "to_masked", "status", "attempts", "last_error", "provider",
                   "provider_message_id", "sent_at", "updated_at")


class DeliveryInline(ReadOnly, admin.TabularInline):
    """A user's latest messages on their admin page: when, which channel, to where
    (masked), their status (queued, sending, sent, delivered, failed, undeliverable), the
    tries, the last error and the provider's message id — never the code."""

    model = Delivery
    fk_name = "user"
    verbose_name_plural = "latest deliveries"
    extra = 0
    can_delete = False
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS
    ordering = ("-created_at", "-id")
    recent_limit = 20  # authenticator.admin.accounts.UserAdmin shows only the most recent


@admin.register(Otp)
class OtpAdmin(ReadOnly, admin.ModelAdmin):
    # Never the code: the stored value is a hash, and it is not shown either.
    list_display = ("created_at", "user", "purpose", "channel", "attempts", "expired_at", "consumed_at")
    list_filter = ("purpose", "channel")
    search_fields = ("user__phone_number", "user__email", "user__name")
    exclude = ("otp", "asked_from")  # a hash each: of the code, and of the asking address
    readonly_fields = ("user", "purpose", "channel", "sent_to", "attempts", "born_attempts", "created_at", "expired_at",
                       "consumed_at", "account_lockout")
    list_select_related = ("user",)

    @admin.display(description="account lockout (this channel)")
    def account_lockout(self, obj: Otp) -> str:
        return lockout_of(obj)


class LockoutResetForm(forms.ModelForm):
    class Meta:
        model = OtpLockoutReset
        fields = ("user", "channel", "reason")
        help_texts = {"reason": "Why (e.g. \"owner called, identity checked\"): kept as the audit of this reset."}


@admin.register(OtpLockoutReset)
class OtpLockoutResetAdmin(admin.ModelAdmin):
    """Support's way back for an owner locked out by guessers: add a reset (account,
    channel, reason) and that channel's earlier wrong codes stop counting. Resets are the
    audit: never changed or deleted here."""

    form = LockoutResetForm
    list_display = ("reset_at", "user", "channel", "reason", "actor", "actor_label")
    list_filter = ("channel",)
    search_fields = ("user__phone_number", "user__email", "user__name")
    raw_id_fields = ("user",)
    list_select_related = ("user", "actor")

    def get_readonly_fields(self, request, obj=None):
        return ("user", "channel", "reason", "actor", "actor_label", "reset_at") if obj is not None else ()

    def save_model(self, request, obj: OtpLockoutReset, form, change) -> None:
        target = form.cleaned_data["user"]
        # As everywhere in the admin: only a superuser acts on staff accounts, or one's own.
        if not staff_may_act_on(actor=request.user, user=target):
            raise PermissionDenied("Only a superuser can act on a staff account, or your own.")
        with transaction.atomic():
            saved = otp_lockout_reset(user_id=target.pk, channel=form.cleaned_data["channel"],
                                      reason=form.cleaned_data["reason"], actor_id=request.user.pk, actor_label="admin")
            staff_change_record(user=target, actor=request.user, field=f"otp_lockout_{saved.channel}",
                                new="reset", reason=saved.reason)
        obj.pk, obj.reset_at, obj.actor_id = saved.pk, saved.reset_at, saved.actor_id
        obj._state.adding = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
