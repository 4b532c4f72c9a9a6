# syntax=docker/dockerfile:1.7
# The Authenticator service image: one image, every role (web, h2, grpc, migrate, manage).
#
#   make image           # docker build --build-arg PYTHON_VERSION=$(cat .python-version) -t authenticator .
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t authenticator .
#                                                                    # behind a TLS-intercepting proxy
#   scripts/build-image-offline.sh                                   # no Docker Hub: debootstrap base
#
# PYTHON_VERSION is pinned in .python-version (`make image` and CI pass it; this default
# is the same, tests/test_docs.py keeps them equal). PYTHON_IMAGE is the runtime base,
# PYTHON_BUILDER_IMAGE the same Python with compilers and headers (the official full image
# ships gcc and the -dev packages). Both must put Python at the same path, because the
# virtualenv built in one is copied into the other.
ARG PYTHON_VERSION=3.11
ARG PYTHON_IMAGE=python:${PYTHON_VERSION}-slim
ARG PYTHON_BUILDER_IMAGE=python:${PYTHON_VERSION}

# --- builder: wheels into a virtualenv -------------------------------------------------
FROM ${PYTHON_BUILDER_IMAGE} AS builder

SHELL ["/bin/sh", "-eu", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY requirements/base.txt requirements/constraints.txt requirements/

# The optional build secret "ca" is a CA bundle (e.g. the host's) for pip to trust, for
# builds whose downloads pass a TLS-intercepting proxy. It is mounted only for this step
# and never stored in a layer.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir -r requirements/base.txt -c requirements/constraints.txt

COPY . /app
WORKDIR /app
# Static files (the admin's) are collected into the image; settings need a key to load,
# and this one exists only for this command.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost DEBUG=0 STATIC_ROOT=/app/staticfiles \
    /opt/venv/bin/python manage.py collectstatic --noinput --verbosity 0; \
    /opt/venv/bin/python -m compileall -q /app

# --- runtime: no compilers, non-root --------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

SHELL ["/bin/sh", "-eu", "-c"]
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000

RUN groupadd --gid 10001 app; \
    useradd --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder --chown=root:root /app /app
WORKDIR /app

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000 8443 50051

# Probes /healthz on $PORT (web, h2) or the gRPC health service (grpc), by the role
# the container was started with.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "/app/deploy/healthcheck.py"]

ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
