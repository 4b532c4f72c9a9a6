from __future__ import annotations

from functools import wraps

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from authenticator import ops
from authenticator.core import metrics

# The docs pages may load only what this server serves. Redoc's sidebar shows a logo from
# its vendor's CDN (unconditionally, in its bundle): refused here, Redoc drops it. Both
# libraries style through inline style attributes and <style> tags, Redoc's search runs
# in a blob: worker; neither needs eval.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'")


def docs_page(view):
    @wraps(view)
    def with_policy(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response

    return with_policy


urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("tokenizer/", include("authenticator.tokenizer.urls")),
    path("api/v1/", include("authenticator.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and Redoc, their assets served from here (drf-spectacular-sidecar, with
    # SWAGGER_UI_DIST / REDOC_DIST = "SIDECAR"): nothing is loaded from a CDN. The split
    # view serves Swagger UI's start-up script as a file, not inline.
    path("api/docs/", docs_page(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("api/redoc/", docs_page(SpectacularRedocView.as_view(url_name="schema", template_name="authenticator/redoc.html")),
         name="api-redoc"),
]
