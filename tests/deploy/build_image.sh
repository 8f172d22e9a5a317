#!/usr/bin/env bash
# Builds the container image localhost/fleetpulse:test from deploy/container/Containerfile
# with buildah (chroot isolation: this machine cannot give a container runtime its rlimits),
# the prebuilt binary FLEETPULSE_BIN (stripped into build/container/), and local Debian 12
# bases made from the cached debootstrap root (tests/deploy/base_image.sh), imported once and
# tagged as the images the Containerfile names, so the build needs no registry. The runtime
# stage's apt-get reaches only the Debian mirror; buildah --layers keeps its layer cached.
# Prints the image's size as buildah reports it (e.g. "97.4 MB", decimal units).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${FLEETPULSE_BIN:?FLEETPULSE_BIN must name the release binary}"
image="${IMAGE:-localhost/fleetpulse:test}"
for tool in buildah strip; do
  command -v "$tool" >/dev/null || { echo "build_image: $tool is not installed" >&2; exit 1; }
done

tests/deploy/base_image.sh >/dev/null

. tests/deploy/buildah_cleanup.sh
trap remove_new_buildah_containers EXIT
mkdir -p build/container
strip -o build/container/fleetpulse "$FLEETPULSE_BIN"
buildah build --isolation chroot --layers --pull=never --format docker --quiet \
  --build-arg FLEETPULSE_BINARY=prebuilt \
  --build-arg FLEETPULSE_PREBUILT=build/container/fleetpulse \
  --ignorefile deploy/container/Containerfile.dockerignore \
  -f deploy/container/Containerfile -t "$image" . >&2
buildah images --noheading --format '{{.Size}}' "$image"
