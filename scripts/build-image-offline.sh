#!/usr/bin/env bash
# Build the service image without Docker Hub and without a Docker engine.
#
#   1. debootstrap a minimal Debian bookworm (from the mirror apt already uses here) with
#      python3 + venv + CA certificates, and import it as localhost/authenticator-base;
#   2. derive localhost/authenticator-builder from it (+ gcc and the Python headers);
#   3. `buildah bud` the Dockerfile on those two bases (PYTHON_IMAGE / PYTHON_BUILDER_IMAGE),
#      with the host's CA bundle mounted as the build secret "ca" so pip trusts a
#      TLS-intercepting proxy;
#   4. run `manage.py check` inside the built image, and check that its Python is the one
#      pinned in .python-version (Debian's python3 is the base's: bookworm has 3.11).
#
# Runs as root. Storage is vfs and isolation chroot, so it works inside a container.
# Environment (all optional):
#   IMAGE=localhost/authenticator:dev   the tag to build
#   SUITE=bookworm  MIRROR=<from /etc/apt/sources.list*>  CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
#   WORKDIR=/var/tmp/authenticator-image  (the debootstrap tree; kept for reruns)
#   REBUILD_BASE=1                        rebuild the base images even when they exist
#   SOURCE=head|worktree|<dir>            build the committed HEAD (default: a clean
#                                         `git archive`, whatever else is being edited),
#                                         the work tree as it is, or a prepared directory
set -euo pipefail

cd "$(dirname "$0")/.."

# The one pin of the Python version (also read by the Makefile, the Dockerfile's default
# and CI; tests/test_docs.py keeps them equal).
PYTHON_VERSION="$(cat .python-version)"

IMAGE="${IMAGE:-localhost/authenticator:dev}"
SUITE="${SUITE:-bookworm}"
BASE_IMAGE="${BASE_IMAGE:-localhost/authenticator-base:${SUITE}}"
BUILDER_IMAGE="${BUILDER_IMAGE:-localhost/authenticator-builder:${SUITE}}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
WORKDIR="${WORKDIR:-/var/tmp/authenticator-image}"

export STORAGE_DRIVER=vfs
export BUILDAH_ISOLATION=chroot

log() { printf '\n==> %s\n' "$*" >&2; }

# The Debian mirror apt is configured with (deb822 .sources or one-line .list format).
detect_mirror() {
    local uri
    uri="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null \
        | grep -Eo '(https?://[^ ]+/debian)/?( |$)' | grep -v -- '-security' | head -n1 | tr -d ' ')" || true
    echo "${uri%/}"
}
MIRROR="${MIRROR:-$(detect_mirror)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}"

need_tools() {
    local missing=()
    command -v buildah >/dev/null || missing+=(buildah)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
            fuse-overlayfs uidmap
    fi
}

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

build_base() {
    local rootfs="$WORKDIR/rootfs"
    log "debootstrap $SUITE from $MIRROR into $rootfs"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    debootstrap --variant=minbase \
        --include=python3,python3-venv,ca-certificates,tzdata \
        "$SUITE" "$rootfs" "$MIRROR"
    cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES
    # The image needs none of apt's downloads, caches or docs.
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/tmp/*
    # The official images call it `python3` too; this keeps `python` working as well.
    ln -sf python3 "$rootfs/usr/bin/python"

    log "importing the tree as $BASE_IMAGE"
    tar -C "$rootfs" --numeric-owner -cf "$WORKDIR/rootfs.tar" .
    local ctr
    ctr="$(buildah from scratch)"
    buildah add "$ctr" "$WORKDIR/rootfs.tar" /
    buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd '["python3"]' "$ctr"
    buildah commit --rm "$ctr" "$BASE_IMAGE"
    rm -f "$WORKDIR/rootfs.tar"

    log "deriving $BUILDER_IMAGE (+ compilers, headers)"
    ctr="$(buildah from "$BASE_IMAGE")"
    buildah run "$ctr" -- sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc g++ make python3-dev libpq-dev && apt-get clean && rm -rf /var/lib/apt/lists/*'
    buildah commit --rm "$ctr" "$BUILDER_IMAGE"
}

main() {
    [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
    [ -s "$CA_BUNDLE" ] || { echo "no CA bundle at $CA_BUNDLE" >&2; exit 1; }
    need_tools
    mkdir -p "$WORKDIR"
    buildah --version

    if [ -n "${REBUILD_BASE:-}" ] || ! image_exists "$BASE_IMAGE" || ! image_exists "$BUILDER_IMAGE"; then
        build_base
    else
        log "reusing $BASE_IMAGE and $BUILDER_IMAGE (REBUILD_BASE=1 to rebuild)"
    fi

    local context=.
    if [ "${SOURCE:-head}" = head ]; then
        context="$WORKDIR/context"
        log "build context: git HEAD $(git rev-parse --short HEAD) -> $context"
        rm -rf "$context"
        mkdir -p "$context"
        git archive --format=tar HEAD | tar -x -C "$context"
    elif [ "${SOURCE}" = worktree ]; then
        log "build context: the work tree $(pwd)"
    else
        context="$SOURCE"
        [ -f "$context/Dockerfile" ] || { echo "SOURCE=$SOURCE has no Dockerfile" >&2; exit 1; }
        log "build context: $context"
    fi

    log "buildah bud -> $IMAGE"
    # Docker format: the OCI image config has no HEALTHCHECK (buildah would drop it).
    buildah bud \
        --format docker \
        --layers \
        --pull-never \
        --secret "id=ca,src=$CA_BUNDLE" \
        --build-arg "PYTHON_VERSION=${PYTHON_VERSION}" \
        --build-arg "PYTHON_IMAGE=$BASE_IMAGE" \
        --build-arg "PYTHON_BUILDER_IMAGE=$BUILDER_IMAGE" \
        --tag "$IMAGE" \
        --file "$context/Dockerfile" \
        "$context"

    log "image config"
    buildah inspect --type image --format \
        'user={{.Docker.Config.User}} entrypoint={{.Docker.Config.Entrypoint}} cmd={{.Docker.Config.Cmd}} healthcheck={{.Docker.Config.Healthcheck.Test}}' \
        "$IMAGE"
    [ -n "$(buildah inspect --type image --format '{{.Docker.Config.Healthcheck}}' "$IMAGE")" ] \
        || { echo "the image has no HEALTHCHECK" >&2; exit 1; }

    log "manage.py check inside $IMAGE"
    CHECK_CTR="$(buildah from --pull-never "$IMAGE")"
    trap 'buildah rm "$CHECK_CTR" >/dev/null 2>&1 || true' EXIT
    local ctr="$CHECK_CTR"
    buildah run --user 10001:10001 --env DEBUG=1 "$ctr" -- /app/deploy/entrypoint.sh manage check
    buildah run --user 10001:10001 "$ctr" -- python3 -c \
        'import django, gunicorn, hypercorn, grpc, psycopg; print("imports ok: django", django.get_version())'
    local built_python
    built_python="$(buildah run "$ctr" -- python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    [ "$built_python" = "$PYTHON_VERSION" ] \
        || { echo "the image has Python $built_python, .python-version says $PYTHON_VERSION (SUITE=$SUITE)" >&2; exit 1; }

    # Smoke: the default role (gunicorn) starts as the image's user and the image's own
    # HEALTHCHECK command passes against it. Port 0: the kernel picks a free one, read
    # back from gunicorn's "Listening at" line. (chroot isolation shares the host network.)
    log "gunicorn + HEALTHCHECK inside $IMAGE"
    buildah run --user 10001:10001 --env DEBUG=1 --env HOST=127.0.0.1 --env PORT=0 \
        --env WEB_CONCURRENCY=1 "$ctr" -- sh -c '
        /app/deploy/entrypoint.sh web >/tmp/web.log 2>&1 & pid=$!
        url=""; rc=1
        for _ in $(seq 1 100); do
            url=$(sed -n "s/.*Listening at: \(http:[^ ]*\).*/\1/p" /tmp/web.log)
            if [ -n "$url" ] && HEALTHCHECK_URL="$url/healthz" python3 /app/deploy/healthcheck.py; then rc=0; break; fi
            sleep 0.2
        done
        kill -TERM "$pid"; wait "$pid" || true
        cat /tmp/web.log
        echo "healthcheck against $url: exit $rc"
        exit $rc'

    log "built $IMAGE"
    buildah images "$IMAGE"
}

main "$@"
