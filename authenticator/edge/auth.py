"""Bearer access tokens from the Tokenizer, introspected (cached in Redis): the caller."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User, UserStatus
from authenticator.core.errors import InvalidToken

from ..tokenizer import Introspection, tokenizer

MAX_TOKEN_LENGTH = 4096
KEYWORD = b"bearer"


@dataclass(frozen=True)
class Caller:
    """A signed-in user, the session its token belongs to and the token's introspection."""

    user: User
    token: Introspection

    @property
    def session_id(self) -> str:
        return str(self.token.sid)


def bearer_caller(*, authorization: str | bytes | None) -> Caller | None:
    """The caller an ``Authorization: Bearer <token>`` value names.

    None when there are no bearer credentials at all (no value, another scheme): the
    transport answers ``not_authenticated``. InvalidToken for a malformed, unknown,
    expired or revoked token, and for a user no longer active.
    """
    if isinstance(authorization, str):
        try:
            authorization = authorization.encode("iso-8859-1")
        except UnicodeEncodeError:
            raise InvalidToken() from None
    header = (authorization or b"").split()
    if not header or header[0].lower() != KEYWORD:
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
    return Caller(user=user, token=info)
