"""DRF's adapter of the edge's bearer-token authentication (authenticator.edge.auth)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from ..edge.auth import bearer_caller


class BearerTokenAuthentication(BaseAuthentication):
    """``request.user`` is the caller's user, ``request.auth`` the ``Caller``."""

    def authenticate(self, request):
        caller = bearer_caller(authorization=get_authorization_header(request))
        return None if caller is None else (caller.user, caller)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "authenticator.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Access token from the sign-in answer."}
