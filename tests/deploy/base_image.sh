#!/usr/bin/env bash
# Makes the local Debian 12 base image from the cached debootstrap root (debian_root.sh),
# imported once (slimmed as Debian's slim images are), and tags it as the two bases the
# Containerfile names (docker.io/library/debian:12 and :12-slim), so buildah builds with
# --pull=never need no registry. Prints the base image's name.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v buildah >/dev/null || { echo "base_image: buildah is not installed" >&2; exit 1; }

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
echo "$base"
