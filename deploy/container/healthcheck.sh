#!/bin/bash
# The image's HEALTHCHECK: GET /ready on this container's HTTP port (from FLEETPULSE_HTTP),
# healthy on 200. Bash's /dev/tcp keeps curl out of the image.
set -u
addr="${FLEETPULSE_HTTP:-0.0.0.0:8080}"
port="${addr##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 5 status <&3 || exit 1
[[ "$status" == "HTTP/1.1 200"* ]]
