#!/usr/bin/env bash
# Prints the path of a cached Debian 12 (bookworm) root file system tarball, made with
# debootstrap from the mirror apt already uses on this machine, building it when missing.
# The cache (FLEETPULSE_BUILD_CACHE, default /var/cache/fleetpulse-build) survives between runs;
# the tarball's name carries a hash of everything it depends on (suite, variant, packages,
# mirror), so changing any of them builds a new one. Fails loudly when debootstrap or the
# mirror is missing: a test that cannot run must not pass.
set -euo pipefail
cache="${FLEETPULSE_BUILD_CACHE:-/var/cache/fleetpulse-build}"
suite=bookworm
variant=minbase
include="adduser,ca-certificates,libsystemd0"

mirror_from_apt() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    # deb822: the URIs line of the stanza whose Suites start with bookworm (not -security).
    awk '/^URIs:/{u=$2} /^Suites:/{ if ($2=="bookworm") { print u; exit } } /^$/{u=""}' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$f" ] || continue
    awk '$1=="deb" && $3=="bookworm" {print $2}' "$f"
  done
}
mirror="${FLEETPULSE_DEBIAN_MIRROR:-$(mirror_from_apt | head -n1)}"
if [ -z "$mirror" ]; then
  echo "debian_root: no bookworm mirror in /etc/apt/sources.list*; set FLEETPULSE_DEBIAN_MIRROR" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  echo "debian_root: debootstrap is not installed (apt-get install debootstrap)" >&2
  exit 1
fi
key=$(printf '%s\n' "$suite" "$variant" "$include" "$mirror" "v1" | sha256sum | cut -c1-12)
tarball="$cache/debian-$suite-$variant-$key.tar"
if [ ! -s "$tarball" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/debootstrap.XXXXXX")
  # --one-file-system: never descend into a /proc or /sys debootstrap left mounted if killed.
  trap 'rm -rf --one-file-system "$tmp"' EXIT
  echo "debian_root: debootstrap $suite ($variant) from $mirror into $tmp" >&2
  if ! debootstrap --variant="$variant" --include="$include" "$suite" "$tmp/root" "$mirror" \
       >"$tmp/log" 2>&1; then
    tail -n 30 "$tmp/log" >&2
    echo "debian_root: debootstrap from $mirror failed (is the mirror reachable?)" >&2
    exit 1
  fi
  # apt inside the root uses the same mirror; empty package caches keep the tarball small.
  printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" \
    >"$tmp/root/etc/apt/sources.list"
  rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
  tar --numeric-owner -C "$tmp/root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi
echo "$tarball"
