"""tokenizer(): one process-wide instance, chosen by settings, rebuilt when they change."""

from __future__ import annotations

from authenticator.tokenizer import innermost, reset_tokenizer, tokenizer
from authenticator.tokenizer.cache import CachedIntrospection
from authenticator.tokenizer.http import HttpTokenizer
from authenticator.tokenizer.local import LocalTokenizer

from .conftest import authenticator_settings


def test_without_a_url_the_in_process_tokenizer_is_used_behind_the_cache(settings):
    authenticator_settings(settings, TOKENIZER_URL="")

    instance = tokenizer()

    assert isinstance(instance, CachedIntrospection)
    assert isinstance(innermost(instance), LocalTokenizer)
    assert tokenizer() is instance


def test_with_a_url_the_http_client_is_used_behind_the_cache(settings):
    authenticator_settings(settings, TOKENIZER_URL="http://127.0.0.1:9/tokenizer", TOKENIZER_API_KEY="k")

    instance = tokenizer()

    assert isinstance(instance, CachedIntrospection)
    assert isinstance(innermost(instance), HttpTokenizer)


def test_changing_settings_rebuilds_the_instance(settings):
    authenticator_settings(settings, TOKENIZER_URL="")
    local = tokenizer()

    authenticator_settings(settings, TOKENIZER_URL="http://127.0.0.1:9/tokenizer")

    assert isinstance(innermost(tokenizer()), HttpTokenizer)
    assert tokenizer() is not local


def test_reset_builds_a_new_instance():
    first = tokenizer()

    reset_tokenizer()

    assert tokenizer() is not first
