from __future__ import annotations

from django.urls import path

from . import ops

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
]
