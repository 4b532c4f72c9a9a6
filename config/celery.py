"""The Celery app for ``celery -A config worker``: the Authenticator's deliveries.

    celery -A config worker --queues authenticator --concurrency 4 --loglevel INFO

(the image's ``worker`` role runs exactly that; docs/operators/delivery.md). The app is
made by ``authenticator.core.background.celery_app`` from Django's ``CELERY_*`` settings,
so the web processes that publish and the workers that run share one configuration.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from authenticator.core.background import celery_app  # noqa: E402

app = celery_app()
app.conf.imports = ("authenticator.worker.tasks",)
