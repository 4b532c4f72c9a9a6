"""Django loads an app's models from ``<app>.models``: the ``authenticator`` app's tables
are the in-process Tokenizer's, defined with it in ``authenticator.tokenizer.models``."""

from authenticator.tokenizer.models import (  # noqa: F401 - registered with the app
    TokenizerRefreshToken,
    TokenizerRevokedAccessToken,
    TokenizerSession,
)
