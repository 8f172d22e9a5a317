#!/usr/bin/env bash
# Builds the Containerfile's default image, the one operators get: the `source` stage compiles
# fleetpulse on Debian 12 inside the build (a full cold C++ build of the server), then the
# slim runtime stage. Not run by CI or scripts/test.sh (it takes far longer than their budget;
# tests/deploy builds the `prebuilt` variant from the binary the suite already tested).
# Runs buildah with chroot isolation at the lowest CPU priority (nice -n 19), from the local
# Debian 12 bases of tests/deploy/base_image.sh (no registry needed; apt and npm inside the
# build reach their usual mirrors), prints the wall time, the image size, and the image's
# `fleetpulse version` run as its non-root user.
#   deploy/container/build-source.sh [image-name]     (default localhost/fleetpulse:source)
set -euo pipefail
cd "$(dirname "$0")/../.."
image="${1:-localhost/fleetpulse:source}"
tests/deploy/base_image.sh >/dev/null

. tests/deploy/buildah_cleanup.sh
trap remove_new_buildah_containers EXIT

# The build fetches from the Debian mirror (apt) and the npm registry (the dashboard's
# packages). Behind a TLS-intercepting proxy the image's own CA list does not verify the
# registry (npm: SELF_SIGNED_CERT_IN_CHAIN): lend the build this host's CA bundle and point
# npm at it. Volumes serve the RUN steps only; nothing of them lands in the image.
ca_args=()
host_ca=/etc/ssl/certs/ca-certificates.crt
if [ -s "$host_ca" ]; then
  npmrc=$(mktemp)
  trap 'remove_new_buildah_containers; rm -f "$npmrc"' EXIT
  echo "cafile=$host_ca" >"$npmrc"
  ca_args=(--volume "$host_ca:$host_ca:ro" --volume "$npmrc:/root/.npmrc:ro")
fi

start=$(date +%s)
echo "build-source: started $(date -u +%FT%TZ)" >&2
# buildah 1.28 resolves a FROM <ARG> stage only for --build-arg values, not the ARG default:
# name the stage explicitly, or it skips `source` and fails with "source: image not known".
nice -n 19 buildah build --isolation chroot --layers --pull=never --format docker \
  --build-arg FLEETPULSE_BINARY=source "${ca_args[@]}" \
  --ignorefile deploy/container/Containerfile.dockerignore \
  -f deploy/container/Containerfile -t "$image" .
end=$(date +%s)
echo "build-source: finished $(date -u +%FT%TZ), wall time $(((end - start) / 60)) min $(((end - start) % 60)) s"
echo "build-source: image size $(buildah images --noheading --format '{{.Size}}' "$image")"
ctr=$(buildah from --pull=never "$image")
buildah run --isolation chroot "$ctr" -- /usr/bin/fleetpulse version
echo "build-source: runs as uid $(buildah run --isolation chroot "$ctr" -- id -u)"
