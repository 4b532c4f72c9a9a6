"""Bearer access tokens from the Tokenizer, introspected (cached in Redis)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.models import User, UserStatus
from authenticator.core.errors import InvalidToken

from ..tokenizer import tokenizer

MAX_TOKEN_LENGTH = 4096


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2 or len(header[1]) > MAX_TOKEN_LENGTH:
            raise InvalidToken()
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise InvalidToken() from None
        info = tokenizer().introspect(token=token)
        if not info.active or not info.sub or not info.sub.isdigit():
            raise InvalidToken()
        user = User.objects.filter(pk=int(info.sub), status=UserStatus.ACTIVE).first()
        if user is None:
            raise InvalidToken()
        return user, info

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "authenticator.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Access token from the sign-in answer."}
