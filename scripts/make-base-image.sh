#!/usr/bin/env bash
# Build a Python base image from Debian packages, for machines that cannot pull from a registry.
#
#   scripts/make-base-image.sh [--force] [NAME]      (default NAME: agentctl/python:3.11-bookworm)
#
# debootstrap (minbase + python3, venv, pip, CA certificates) into a temporary directory, then
# `docker import` it. Skips the work when NAME already exists, unless --force. Needs root and
# debootstrap. The Debian mirror is the one apt uses on this machine (override: DEBIAN_MIRROR=URL).
# Use the result with `AGENTCTL_BUILD_IMAGE=NAME agentctl build` or `build.image: NAME` in s.yaml props.
set -euo pipefail

NAME=agentctl/python:3.11-bookworm
FORCE=0
SUITE=bookworm
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "make-base-image: unknown option $arg" >&2; exit 2 ;;
    *) NAME=$arg ;;
  esac
done

die() { echo "make-base-image: $1" >&2; [ -n "${2:-}" ] && echo "hint: $2" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed" "apt-get install docker.io (or run scripts/ci-provision.sh)"
docker info >/dev/null 2>&1 || die "Docker is not running" "start it: sudo systemctl start docker, or: nohup dockerd >/tmp/dockerd.log 2>&1 &"

if [ "$FORCE" = 0 ] && docker image inspect "$NAME" >/dev/null 2>&1; then
  echo "make-base-image: $NAME already exists (use --force to rebuild)"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "debootstrap needs root" "run: sudo $0 $*"
command -v debootstrap >/dev/null || die "debootstrap is not installed" "apt-get install debootstrap"

# The mirror apt already uses here (deb822 .sources files or one-line lists), else the public one.
find_mirror() {
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  grep -hoE '^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
    "${files[@]}" 2>/dev/null | grep -oE 'https?://[^[:space:]]+' | head -n1
}
MIRROR=${DEBIAN_MIRROR:-$(find_mirror || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

ROOT=$(mktemp -d /tmp/agentctl-rootfs.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT

echo "make-base-image: debootstrap $SUITE from $MIRROR (about a minute)"
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
  "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || { tail -n 20 "$ROOT.log" >&2; die "debootstrap failed (log: $ROOT.log)"; }
rm -f "$ROOT.log"

# Keep the image small: package caches are not needed at run time.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/*

echo "make-base-image: importing as $NAME"
# PIP_BREAK_SYSTEM_PACKAGES: the image is a container, Debian's "externally managed" guard does not apply.
tar -C "$ROOT" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
  --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
  --change 'CMD ["python3"]' \
  --message "agentctl base image: Debian $SUITE + python3 (scripts/make-base-image.sh)" \
  - "$NAME" >/dev/null
echo "make-base-image: built $NAME ($(docker image inspect -f '{{.Size}}' "$NAME" | awk '{printf "%.0f MB", $1/1e6}'))"
