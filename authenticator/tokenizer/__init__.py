"""The Tokenizer: who mints, refreshes, revokes and introspects tokens (docs/tokenizer.md).

``tokenizer()`` is the process-wide instance: the HTTP client when ``TOKENIZER_URL`` is
set, else the in-process signer; either way wrapped in the introspection cache. It is
rebuilt when settings change (tests' ``override_settings``) or on ``reset_tokenizer()``.
"""

from __future__ import annotations

import threading

from django.core.signals import setting_changed
from django.dispatch import receiver

from .base import Introspection, Tokenizer, TokenPair

__all__ = ["Introspection", "TokenPair", "Tokenizer", "reset_tokenizer", "tokenizer"]

_lock = threading.Lock()
_instance: Tokenizer | None = None


def tokenizer() -> Tokenizer:
    global _instance
    instance = _instance
    if instance is None:
        with _lock:
            if _instance is None:
                _instance = _build()
            instance = _instance
    return instance


def _build() -> Tokenizer:
    from authenticator.core.conf import app_settings
    from authenticator.core.metrics import InstrumentedTokenizer

    from .cache import CachedIntrospection

    # Metrics wrap the real implementation, so cached introspections are not timed as calls.
    if app_settings.TOKENIZER_URL:
        from .http import HttpTokenizer

        return CachedIntrospection(InstrumentedTokenizer(HttpTokenizer()))
    from .local import LocalTokenizer

    return CachedIntrospection(InstrumentedTokenizer(LocalTokenizer()))


def reset_tokenizer() -> None:
    global _instance
    with _lock:
        old, _instance = _instance, None
    close = getattr(innermost(old), "close", None)
    if callable(close):
        close()  # the HTTP client's pooled sockets


def innermost(instance: object) -> object:
    """The implementation under the wrappers (cache, metrics), each exposing ``.inner``."""
    while getattr(instance, "inner", None) is not None:
        instance = instance.inner  # type: ignore[attr-defined]
    return instance


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs) -> None:
    if setting in ("AUTHENTICATOR", "CACHES", "SECRET_KEY"):
        reset_tokenizer()
