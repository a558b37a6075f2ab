#!/usr/bin/env bash
# Provision a fresh (Debian/Ubuntu, root) machine for the full agentctl suite, Docker tests included.
#
#   scripts/ci-provision.sh
#
# Installs what is missing (docker.io, debootstrap, bubblewrap, wrk), starts dockerd in the background
# when no engine answers and waits for it (bounded), then builds the local Python base image
# (scripts/make-base-image.sh). Quick and harmless when everything is already there.
# Env: DOCKERD_WAIT (seconds, default 60), AGENTCTL_BASE_IMAGE (default agentctl/python:3.11-bookworm).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BASE_IMAGE=${AGENTCTL_BASE_IMAGE:-agentctl/python:3.11-bookworm}
WAIT=${DOCKERD_WAIT:-60}
log() { echo "ci-provision: $*"; }
die() { echo "ci-provision: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get, dockerd, debootstrap)"

# --- packages: only install what is missing, so a provisioned machine does no apt work ---------------
declare -A NEEDED=([dockerd]=docker.io [debootstrap]=debootstrap [bwrap]=bubblewrap [wrk]=wrk)
missing=()
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- the engine: start dockerd unless one already answers ---------------------------------------------
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq "$WAIT"); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -n 20 /tmp/dockerd.log >&2; die "dockerd did not answer within ${WAIT}s"; }
fi
log "docker engine $(docker info -f '{{.ServerVersion}}') is running"

# --- the base image builds use when no registry can be reached -----------------------------------------
"$HERE/make-base-image.sh" "$BASE_IMAGE"
log "ready"
