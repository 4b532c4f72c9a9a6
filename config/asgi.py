"""ASGI entry point: the Django app for the HTTP/2 server (hypercorn, config/hypercorn.py).

Django's ASGI handler serves HTTP only; the lifespan protocol is answered here so the
server starts and stops cleanly instead of logging a lifespan error for every worker.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

from authenticator.core.ids import lease_before_serving  # noqa: E402 - needs the app loaded
from config.startup import refuse_to_start_on_check_errors  # noqa: E402

refuse_to_start_on_check_errors()
lease_before_serving()  # before the first request's transaction (see the function)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "lifespan":
        await django_application(scope, receive, send)
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
