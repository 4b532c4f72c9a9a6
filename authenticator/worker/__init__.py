"""The Celery worker: a transport whose input is a task message instead of a request.

``tasks`` registers the flows' background jobs (``authenticator.core.background.job``)
as Celery tasks; ``process`` gives the worker its health file and metrics. Started by
``celery -A config worker`` (``config/celery.py``; the image's ``worker`` role).
"""
