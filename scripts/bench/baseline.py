"""The framework's limit: bare Django + DRF doing the least work a sign-in needs.

One DRF view, JSON in and out, no middleware, no authentication, no throttles: one
indexed SELECT (the user by phone number), one INSERT (a row, like a login state), one
Redis round trip (like a rate-limit key). Served by the same gunicorn configuration as
the service, on the same PostgreSQL and Redis, so the ratio between the two is the cost
of the service's own work.

    DJANGO_SETTINGS_MODULE=scripts.bench.baseline gunicorn -c config/gunicorn.py scripts.bench.baseline:application
"""

from __future__ import annotations

import itertools
import os
import time

import environ

env = environ.Env()

# --- settings (this module is its own settings module) ---------------------------------
DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY", "bench-baseline-" + "x" * 40)
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = __name__
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
MIDDLEWARE: list[str] = []
USE_TZ = True
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": 1, "max_size": env.int("DB_POOL_MAX_SIZE", default=10), "timeout": 10.0,
}
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": env.str("REDIS_URL"),
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="bench-baseline"),
    }
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

# --- the endpoint -----------------------------------------------------------------------
TABLE_DDL = "CREATE TABLE IF NOT EXISTS bench_baseline (id bigint PRIMARY KEY, user_id bigint, created_at timestamptz)"
_ids = itertools.count((os.getpid() << 32) + int(time.time()))


def _view():
    from django.core.cache import cache
    from django.db import connection
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class SignInFloor(APIView):
        def post(self, request):
            phone = request.data.get("phone_number") if isinstance(request.data, dict) else None
            with connection.cursor() as cursor:
                cursor.execute("SELECT id FROM users WHERE phone_number = %s", [phone])
                row = cursor.fetchone()
                cursor.execute("INSERT INTO bench_baseline (id, user_id, created_at) VALUES (%s, %s, now())",
                               [next(_ids), row[0] if row else None])
            cache.set(f"floor:{phone}", 1, timeout=60)
            return Response({"status": "ok", "known": row is not None}, status=202)

    return SignInFloor.as_view()


def _healthz(request):
    from django.http import JsonResponse

    return JsonResponse({"status": "ok"})


# Built after the settings above exist: gunicorn imports this module, which sets itself up
# as the settings module and builds the WSGI app; Django's own import of it as settings
# finds the (partly run) module in sys.modules with every setting already defined.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", __name__)


def _build():
    from django.core.wsgi import get_wsgi_application
    from django.urls import path

    app = get_wsgi_application()
    return app, [path("floor", _view()), path("healthz", _healthz)]


application, urlpatterns = _build()
