"""The admin app of this project: its default site requires a second factor.

Django's documented way to replace ``django.contrib.admin.site``: every
``admin.register`` / ``admin.site.register`` (ours, django-otp's, axes') lands on it.
"""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "authenticator.admin.staff_sign_in.StaffAdminSite"

    def ready(self) -> None:
        # Our pages live in the package that also holds the site class. Import them before
        # autodiscovery touches ``admin.site``: otherwise the first touch (another app's
        # admin) would import this package while the lazy site is being built, and our
        # pages would land on a second site that is then thrown away.
        import authenticator.admin  # noqa: F401

        super().ready()
