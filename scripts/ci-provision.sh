#!/usr/bin/env bash
# Provision a fresh (Debian/Ubuntu, root) machine for the full agentctl suite, Docker tests included.
#
#   scripts/ci-provision.sh
#
# Checks for every program CI runs (below) and installs the packages of the missing ones, starts dockerd
# in the background when no engine answers and waits for it (bounded), then builds the local Python base
# image (scripts/make-base-image.sh). Quick and harmless when everything is already there. It prints
# what it did, and writes the same one-line summary to $CI_PROVISION_SUMMARY when that is set.
# Env: DOCKERD_WAIT (seconds, default 60), AGENTCTL_BASE_IMAGE (default agentctl/python:3.11-bookworm).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BASE_IMAGE=${AGENTCTL_BASE_IMAGE:-agentctl/python:3.11-bookworm}
WAIT=${DOCKERD_WAIT:-60}
log() { echo "ci-provision: $*"; }
die() { echo "ci-provision: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get, dockerd, debootstrap)"

# --- programs CI runs, and the Debian package of each -------------------------------------------------
# A machine image may ship a program's client but not the program itself (the `docker` client without
# the `dockerd` engine), so each program is checked by the name CI runs, never by a sibling's.
NEEDED=(
  "dockerd docker.io"       # the engine of the Docker tests (started below)
  "docker docker.io"        # its client: this script and make-base-image.sh
  "debootstrap debootstrap" # make-base-image.sh
  "bwrap bubblewrap"        # the process sandbox and its isolation tests
  "wrk wrk"                 # bench/gateway.py
  "node nodejs"             # the Serverless Devs parser, the s.yaml oracle (CI=true: its tests must run)
  "npm npm"                 # installs that oracle
  "make make"               # .ci/run → make test
)
missing=() packages=()
for entry in "${NEEDED[@]}"; do
  read -r program package <<<"$entry"
  command -v "$program" >/dev/null 2>&1 && continue
  missing+=("$program")
  [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
done
# `make test` creates a venv: Debian splits venv/ensurepip out of python3.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=("python3 -m venv") packages+=("python3-venv")
fi
installed="nothing"
if [ ${#packages[@]} -gt 0 ]; then
  log "missing: ${missing[*]} → installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  installed="${packages[*]}"
fi
for entry in "${NEEDED[@]}"; do
  read -r program _ <<<"$entry"
  command -v "$program" >/dev/null 2>&1 || die "$program is still missing after installing its package"
done
log "installed: $installed"

# --- the engine: start dockerd unless one already answers ---------------------------------------------
engine="running"
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq "$WAIT"); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -n 20 /tmp/dockerd.log >&2; die "dockerd did not answer within ${WAIT}s"; }
  engine="started"
fi
log "docker engine $(docker info -f '{{.ServerVersion}}') is $engine"

# --- the base image builds use when no registry can be reached -----------------------------------------
base="present"
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || base="built"
"$HERE/make-base-image.sh" "$BASE_IMAGE"

versions="dockerd $(dockerd --version | grep -oE '[0-9]+(\.[0-9]+)+' | head -n1), node $(node --version)"
versions+=", npm $(npm --version), bwrap $(bwrap --version | awk '{print $2}'), python $(python3 -V | awk '{print $2}')"
summary="installed: $installed; engine $engine; base image $BASE_IMAGE $base; $versions"
log "ready ($summary)"
[ -z "${CI_PROVISION_SUMMARY:-}" ] || echo "$summary" >"$CI_PROVISION_SUMMARY"
