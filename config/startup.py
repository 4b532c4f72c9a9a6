"""Run Django's system checks when a web server loads the app, as ``manage.py`` does.

gunicorn and hypercorn import ``config.wsgi`` / ``config.asgi`` and never run the checks
themselves; without this, a deployment with DEBUG off and, say, console SMS or a
per-process cache would start and serve. Errors (and worse) stop the worker: gunicorn then
stops with "Worker failed to boot", hypercorn's worker exits. Warnings are logged only;
``manage.py check --deploy`` is where they fail a build.
"""

from __future__ import annotations

import logging


def refuse_to_start_on_check_errors() -> None:
    from django.core import checks
    from django.core.management.base import SystemCheckError

    messages = [m for m in checks.run_checks() if not m.is_silenced()]
    errors = [m for m in messages if m.level >= checks.ERROR]
    log = logging.getLogger("authenticator.startup")
    for message in messages:
        if message.level < checks.ERROR:
            log.warning("system check: %s", message)
    if errors:
        text = "\n".join(str(e) for e in errors)
        log.critical("refusing to start, system checks failed:\n%s", text)
        raise SystemCheckError(f"System checks failed, refusing to start:\n{text}")
