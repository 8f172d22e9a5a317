#!/usr/bin/env bash
# Builds the container image localhost/fleetpulse:test from deploy/container/Containerfile
# with buildah (chroot isolation: this machine cannot give a container runtime its rlimits),
# the prebuilt binary FLEETPULSE_BIN (stripped into build/container/), and local Debian 12
# bases made from the cached debootstrap root (tests/deploy/debian_root.sh), imported once and
# tagged as the images the Containerfile names, so the build needs no registry. The runtime
# stage's apt-get reaches only the Debian mirror; buildah --layers keeps its layer cached.
# Prints the image's size in bytes.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${FLEETPULSE_BIN:?FLEETPULSE_BIN must name the release binary}"
image="${IMAGE:-localhost/fleetpulse:test}"
for tool in buildah strip; do
  command -v "$tool" >/dev/null || { echo "build_image: $tool is not installed" >&2; exit 1; }
done

tarball=$(tests/deploy/debian_root.sh)
key=$(basename "$tarball" .tar | sed 's/.*-//')
base="localhost/fleetpulse-debian-base:$key"
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  ctr=$(buildah from scratch)
  trap 'buildah umount "$ctr" >/dev/null 2>&1 || true; buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
  mnt=$(buildah mount "$ctr")
  tar --numeric-owner -C "$mnt" -xf "$tarball"
  # As Debian's slim images: no documentation, manuals or translations, now or later.
  rm -rf "$mnt"/usr/share/doc/* "$mnt"/usr/share/man/* "$mnt"/usr/share/info/* \
    "$mnt"/usr/share/locale/*
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' >"$mnt/etc/dpkg/dpkg.cfg.d/slim"
  buildah umount "$ctr" >/dev/null
  buildah config --cmd /bin/bash "$ctr"
  buildah commit -q "$ctr" "$base" >/dev/null
  buildah rm "$ctr" >/dev/null
  trap - EXIT
fi
buildah tag "$base" docker.io/library/debian:12-slim docker.io/library/debian:12

# buildah build leaves the working containers of stages used by name (FROM <stage>); remove
# those this build made.
containers() { buildah containers --quiet --notruncate | sort; }
before=$(containers)
cleanup_build() {
  comm -13 <(echo "$before") <(containers) | xargs -r buildah rm >/dev/null 2>&1 || true
}
trap cleanup_build EXIT
mkdir -p build/container
strip -o build/container/fleetpulse "$FLEETPULSE_BIN"
buildah build --isolation chroot --layers --pull=never --format docker --quiet \
  --build-arg FLEETPULSE_BINARY=prebuilt \
  --build-arg FLEETPULSE_PREBUILT=build/container/fleetpulse \
  --ignorefile deploy/container/Containerfile.dockerignore \
  -f deploy/container/Containerfile -t "$image" . >&2
buildah inspect --type image --format '{{.Size}}' "$image" 2>/dev/null ||
  buildah images --noheading --format '{{.Size}}' "$image"
