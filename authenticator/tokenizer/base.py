"""The Tokenizer interface (contract: docs/tokenizer.md) and its value types.

Every implementation — the in-process signer, the HTTP client, the caching wrapper —
takes and returns exactly these, and raises only two domain errors:

- ``InvalidToken``: a refresh token that is unknown, expired, revoked or reused (401);
- ``TokenizerUnavailable``: the Tokenizer cannot answer right now (5xx, refused
  connection, timeout, junk answers, misconfigured key) — the caller answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# Token type names (RFC 7009 hints), not secrets.
ACCESS_TOKEN = "access_token"  # nosec B105
REFRESH_TOKEN = "refresh_token"  # nosec B105
TOKEN_TYPE_HINTS = (ACCESS_TOKEN, REFRESH_TOKEN)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "refresh_expires_in": self.refresh_expires_in,
            "session_id": self.session_id,
        }

    def __repr__(self) -> str:
        # Tokens are credentials: keep them out of logs and tracebacks.
        return f"TokenPair(session_id={self.session_id!r}, expires_in={self.expires_in}, refresh_expires_in={self.refresh_expires_in})"


@dataclass(frozen=True)
class Introspection:
    active: bool
    sub: str | None = None
    sid: str | None = None
    exp: int | None = None
    iat: int | None = None
    amr: tuple[str, ...] = ()
    level: int | None = None

    def as_dict(self) -> dict[str, Any]:
        # RFC 7662 §2.2: an inactive token tells nothing more about itself.
        if not self.active:
            return {"active": False}
        return {
            "active": True,
            "sub": self.sub,
            "sid": self.sid,
            "exp": self.exp,
            "iat": self.iat,
            "amr": list(self.amr),
            "level": self.level,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Introspection:
        """Parse a contract answer; ``TypeError``/``ValueError`` when it does not have the contract's shape."""
        if not isinstance(data, dict) or not isinstance(data.get("active"), bool):
            raise TypeError("introspection answer without a boolean 'active'")
        if not data["active"]:
            return INACTIVE
        sub, sid, exp, iat, amr, level = (data.get(k) for k in ("sub", "sid", "exp", "iat", "amr", "level"))
        if not (isinstance(sub, str) and sub and isinstance(sid, str) and sid):
            raise ValueError("active introspection answer without sub/sid")
        if not (_is_int(exp) and _is_int(iat) and (level is None or _is_int(level))):
            raise ValueError("introspection answer with non-integer exp/iat/level")
        if not (isinstance(amr, list) and all(isinstance(m, str) for m in amr)):
            raise ValueError("introspection answer with a non-list amr")
        return cls(active=True, sub=sub, sid=sid, exp=exp, iat=iat, amr=tuple(amr), level=level)


INACTIVE = Introspection(active=False)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def token_pair_from_dict(data: Any) -> TokenPair:
    """Parse a contract token pair; ``TypeError``/``ValueError`` when the shape is wrong."""
    if not isinstance(data, dict):
        raise TypeError("token pair is not an object")
    strings = ("access_token", "token_type", "refresh_token", "session_id")
    ints = ("expires_in", "refresh_expires_in")
    if not all(isinstance(data.get(k), str) and data[k] for k in strings):
        raise ValueError("token pair with a missing or non-string field")
    if not all(_is_int(data.get(k)) and data[k] > 0 for k in ints):
        raise ValueError("token pair with a missing or non-positive lifetime")
    return TokenPair(**{k: data[k] for k in strings + ints})


@runtime_checkable
class Tokenizer(Protocol):
    def issue(
        self,
        *,
        subject: str,
        session_id: str,
        amr: list[str],
        level: int,
        ip: str | None,
        user_agent: str,
        idempotency_key: str,
    ) -> TokenPair: ...

    def refresh(self, *, refresh_token: str) -> TokenPair: ...

    def revoke_token(self, *, token: str, token_type_hint: str | None = None) -> None: ...

    def revoke_sessions(self, *, subject: str, session_id: str | None = None) -> int: ...

    def introspect(self, *, token: str) -> Introspection: ...

    def jwks(self) -> dict: ...
