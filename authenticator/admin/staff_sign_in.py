"""How staff sign in to the admin: password, then a second factor, with a lockout.

The libraries do the work: django-otp's ``OTPAdminSite`` lets in only sessions verified
by a confirmed OTP device (TOTP, or a one-time backup code), and django-axes counts
failed passwords per phone number + client address and locks that pair out. This module
only fits them to the project:

- the admin site keeps the name ``admin``, so every ``reverse("admin:…")`` still works;
- axes sees the phone number in its E.164 form, as the sign-in does (``+44 7400 …`` and
  ``07400…`` are one account, so respelling the number does not buy new tries);
- axes sees the project's client IP (``ClientIpMiddleware``: the socket peer, or
  X-Forwarded-For only from TRUSTED_PROXIES), never a header a client can pick;
- the lockout page is ours: 429 with Retry-After, the same for every phone number
  whether or not an account has it.
"""

from __future__ import annotations

import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db.models.base import ModelBase
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_otp.admin import OTPAdminSite

from accounts.validation import normalise_phone

LOCKOUT_TEMPLATE = "admin/staff_locked_out.html"
USERNAME_MAX = 255  # axes.models.AccessBase.username


# The libraries' own admin pages: second-factor devices (a staffer who may add one to a
# superuser's account, or read its key, signs in as that superuser once the password
# falls) and lockout records (deleting one lifts a lock). Only superusers see them.
SUPERUSER_ONLY_APPS = frozenset({"otp_totp", "otp_static", "axes"})


def _superuser(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


class SuperuserOnly:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _superuser(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _superuser(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _superuser(request) and super().has_delete_permission(request, obj)


class StaffGuards:
    """On every page of the site, for staff who are not superusers:

    - filtering only by the fields the page offers as filters (or its date hierarchy):
      Django lets any local field be filtered on from the URL, which would let support
      read a hidden column character by character (``?otp__startswith=2a`` on the codes'
      HMACs) or pick out the superusers (``?is_superuser__exact=1``);
    - no history pages: the admin log is for superusers.
    """

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest | None = None) -> bool:
        if request is not None and not _superuser(request):
            first = lookup.split("__", 1)[0]
            try:
                self.model._meta.get_field(first)
            except FieldDoesNotExist:
                pass  # not a column: a custom filter's own parameter, or ignored
            else:
                offered = {f if isinstance(f, str) else f[0]
                           for f in self.get_list_filter(request) if isinstance(f, (str, tuple, list))}
                offered.add(self.date_hierarchy)
                if first not in {o.split("__", 1)[0] for o in offered if o}:
                    return False
        return super().lookup_allowed(lookup, value, request)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None):
        if not _superuser(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)


class StaffAdminSite(OTPAdminSite):
    """The project's admin site (``django.contrib.admin.site``, see config/apps.py)."""

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        models = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else list(model_or_iterable)
        for model in models:
            cls = admin_class or admin.ModelAdmin
            cls = type(f"Guarded{cls.__name__}", (StaffGuards, cls), {})
            if model._meta.app_label in SUPERUSER_ONLY_APPS:
                cls = type(f"SuperuserOnly{cls.__name__}", (SuperuserOnly, cls), {})
            super().register(model, cls, **options)


class StaffLockoutBackend(AxesStandaloneBackend):
    """axes' lockout check, for password sign-ins only (``authenticate`` without a
    password is some other caller's, which axes would refuse for lacking a request)."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None,
                     password: str | None = None, **kwargs: Any):
        if password is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The phone number as the sign-in reads it (``UserManager.get_by_natural_key``)."""
    source = credentials if credentials else getattr(request, "POST", {})
    value = source.get("username") if source else None
    if not isinstance(value, str):
        return value
    try:
        return normalise_phone(value)
    except ValidationError:  # not a phone number: no account has it, count it as typed
        return value.strip()[:USERNAME_MAX]  # as much as axes' username column holds


def lockout_client_ip(request: HttpRequest) -> str | None:
    # ClientIpMiddleware has already replaced REMOTE_ADDR with the client's address.
    # Naming it here keeps axes off django-ipware, whose own X-Forwarded-For rules
    # (left-most hop, any peer) a client could steer, should it ever be installed.
    return request.META.get("REMOTE_ADDR")


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    """The lockout page: what happened, when to try again, whom to ask.

    It names no account and says the same whatever the phone number, so it tells
    nobody which numbers belong to staff. Each try while locked starts the wait again
    (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so Retry-After is the whole wait.
    """
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else None
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "minutes": math.ceil(seconds / 60) if seconds else None,
    }
    response = render(request, LOCKOUT_TEMPLATE, context, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
