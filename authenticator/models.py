"""Django loads an app's models from ``<app>.models``: the ``authenticator`` app's tables
are the in-process Tokenizer's, defined with it in ``authenticator.tokenizer.models``, and
the limits' PostgreSQL fallback and SMS budget trips, defined with the core that writes
them (``authenticator.core.limit_models``)."""

from authenticator.tokenizer.models import (  # noqa: F401 - registered with the app
    TokenizerRefreshToken,
    TokenizerRevokedAccessToken,
    TokenizerSession,
)
from authenticator.core.limit_models import (  # noqa: F401, E402 - registered with the app
    LimitCounter,
    LimitMember,
    SmsBudgetTrip,
)
