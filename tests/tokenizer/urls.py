"""Only the Tokenizer server, mounted as the project mounts it (``tokenizer/``), so these
tests do not depend on the rest of the URL tree."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("tokenizer/", include("authenticator.tokenizer.urls")),
]
