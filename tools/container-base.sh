#!/usr/bin/env bash
# A local base image for the Dockerfile, made from Debian's packages (no container registry needed):
#
#   tools/container-base.sh [IMAGE]        # default IMAGE: localhost/l2i-base:bookworm
#
# mmdebstrap builds a minimal Debian 12 root file system with Debian's CPython 3.11 (the same
# Debian release and CPython minor version as the public python:3.11-slim the Dockerfile uses by
# default), then `podman import` makes it an image. Then:
#
#   podman build --build-arg BASE=localhost/l2i-base:bookworm ...
#
# Cached: the root file system tarball stays in target/container/ and the image in podman's
# storage; a rerun with both present does nothing. Delete the tarball (or `podman rmi` the image)
# to rebuild. The apt sources are the host's own (its Debian mirror), else mmdebstrap's default.
#
# The podman flags (vfs storage, runc, ulimits) come from PODMAN_FLAGS, as in the Makefile; see
# docs/operations.md for why each is needed on some hosts.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${1:-localhost/l2i-base:bookworm}
SUITE=bookworm
OUT=target/container
TAR=$OUT/base-$SUITE.tar
# python3-venv: the runtime image installs the wheel into a venv; ca-certificates, netbase,
# tzdata: what python:3.11-slim carries too; passwd: useradd for the non-root user.
INCLUDE=python3,python3-venv,ca-certificates,netbase,tzdata,passwd
read -r -a FLAGS <<<"${PODMAN_FLAGS:---storage-driver vfs --runtime runc --cgroup-manager cgroupfs --events-backend file}"

mkdir -p "$OUT"
stamp="$OUT/base-$SUITE.include"
if [ ! -s "$TAR" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$INCLUDE" ]; then
    sources=()
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        if [ -s "$f" ] && grep -q "$SUITE" "$f"; then sources=("$f"); break; fi
    done
    echo "mmdebstrap: $SUITE minbase + $INCLUDE -> $TAR" >&2
    start=$(date +%s)
    mmdebstrap --quiet --format=tar --variant=minbase --include="$INCLUDE" \
        --aptopt='APT::Install-Recommends "false"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        "$SUITE" "$TAR.part" "${sources[@]}" </dev/null
    mv "$TAR.part" "$TAR"
    echo "$INCLUDE" >"$stamp"
    echo "mmdebstrap took $(($(date +%s) - start)) s, $(du -h "$TAR" | cut -f1)" >&2
    podman "${FLAGS[@]}" rmi --force "$IMAGE" >/dev/null 2>&1 || true
fi
if ! podman "${FLAGS[@]}" image exists "$IMAGE"; then
    podman "${FLAGS[@]}" import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        "$TAR" "$IMAGE" >/dev/null
    echo "imported $IMAGE" >&2
fi
echo "$IMAGE"
