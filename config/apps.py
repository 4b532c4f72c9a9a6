"""The admin app of this project: its default site requires a second factor.

Django's documented way to replace ``django.contrib.admin.site``: every
``admin.register`` / ``admin.site.register`` (ours, django-otp's, axes') lands on it.
"""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "authenticator.admin.staff_sign_in.StaffAdminSite"
