"""The support admin: a transport like REST, gRPC and the CLI, over the same services.

Django's admin autodiscovery imports ``authenticator.admin``; the pages of each model app
are registered by the modules below.
"""

from . import accounts, otp, sessions_log, sms  # noqa: F401 - registers the pages
