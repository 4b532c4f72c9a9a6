"""The Tokenizer contract served over HTTP (off unless ``TOKENIZER_SERVE``)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "tokenizer"

urlpatterns = [
    path("v1/tokens", views.issue, name="issue"),
    path("v1/tokens/refresh", views.refresh, name="refresh"),
    path("v1/tokens/revoke", views.revoke_token, name="revoke"),
    path("v1/tokens/introspect", views.introspect, name="introspect"),
    path("v1/sessions/revoke", views.revoke_sessions, name="revoke-sessions"),
    path("v1/jwks", views.jwks, name="jwks"),
]
