#!/bin/sh
# One image, several roles. The first argument picks one:
#   web                 gunicorn, HTTP/1.1 (config/gunicorn.py; PORT, WEB_CONCURRENCY, ...)
#   h2                  hypercorn, HTTP/2 cleartext and TLS with ALPN (config/hypercorn.py)
#   grpc                the gRPC server (GRPC_BIND, default 0.0.0.0:50051)
#   worker              the Celery worker that sends codes (CELERY_BROKER_URL; WORKER_CONCURRENCY,
#                       WORKER_LOGLEVEL; heartbeat file and metrics port: docs/operators/delivery.md)
#   migrate             apply database migrations, then exit
#   manage ARGS...      any manage.py command, e.g. `manage createsuperuser`
#   anything else       run as given (e.g. `sh`)
set -eu

# The project root: /app in the image, the checkout elsewhere.
cd "$(dirname "$0")/.."

role="${1:-web}"
[ "$#" -gt 0 ] && shift

# The worker's pool processes count metrics that its main process serves: they share
# them through a directory (unless one is given), and it beats a file for its health check.
if [ "$role" = "worker" ]; then
    export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/authn-worker-metrics}"
    export WORKER_HEARTBEAT_FILE="${WORKER_HEARTBEAT_FILE:-/tmp/authn-worker-heartbeat}"
    export WORKER_METRICS_PORT="${WORKER_METRICS_PORT:-9808}"
fi

# Several worker processes share their Prometheus metrics through this directory; it
# must start empty (prometheus-client multiprocess mode).
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    rm -rf "$PROMETHEUS_MULTIPROC_DIR"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

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
    worker)
        # SIGTERM is Celery's warm shutdown: running sends finish, reserved tasks go back.
        exec celery -A config worker --concurrency "${WORKER_CONCURRENCY:-4}" --loglevel "${WORKER_LOGLEVEL:-INFO}" \
            --without-gossip --without-mingle "$@"
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
