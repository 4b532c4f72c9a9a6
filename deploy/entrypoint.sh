#!/bin/sh
# One image, several roles. The first argument picks one:
#   web                 gunicorn, HTTP/1.1 (config/gunicorn.py; PORT, WEB_CONCURRENCY, ...)
#   h2                  hypercorn, HTTP/2 cleartext and TLS with ALPN (config/hypercorn.py)
#   grpc                the gRPC server (GRPC_BIND, default 0.0.0.0:50051)
#   migrate             apply database migrations, then exit
#   manage ARGS...      any manage.py command, e.g. `manage createsuperuser`
#   anything else       run as given (e.g. `sh`)
set -eu

# The project root: /app in the image, the checkout elsewhere.
cd "$(dirname "$0")/.."

# Several worker processes share their Prometheus metrics through this directory; it
# must start empty (prometheus-client multiprocess mode).
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    rm -rf "$PROMETHEUS_MULTIPROC_DIR"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
    web)
        exec gunicorn --config config/gunicorn.py "$@" config.wsgi:application
        ;;
    h2)
        exec hypercorn --config file:config/hypercorn.py "$@" config.asgi:application
        ;;
    grpc)
        exec python manage.py grpcserver --bind "${GRPC_BIND:-0.0.0.0:50051}" "$@"
        ;;
    migrate)
        exec python manage.py migrate --noinput "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
