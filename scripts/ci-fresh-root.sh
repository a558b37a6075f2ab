#!/usr/bin/env bash
# Run `.ci/run` as a fresh machine of our kind sees it: a new Debian bookworm root with python3, CA
# certificates and (when this host has one) the `docker` client, but no engine, no node/npm, no make —
# so the run proves that provisioning installs and starts what the suite needs.
#
#   sudo scripts/ci-fresh-root.sh [ROOT]        (default ROOT: /tmp/agentctl-fresh-root)
#
# The committed HEAD (git archive) goes to ROOT/work/agentctl, ../shared/conformance beside it. The run
# has its own network namespace (a veth pair, NAT to the outside: apt, PyPI and npm stay reachable),
# mount namespace (pivot_root into ROOT: dockerd expects / to be a mount root) and pid namespace (its
# dockerd ends with it), so it never touches this host's Docker engine. Host changes, undone at exit:
# the namespace, the veth pair, two FORWARD rules and one MASQUERADE rule for 10.213.0.0/24.
# A pristine root is kept at ROOT.pristine (debootstrap, ~1 min once); each run starts from a copy.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && git rev-parse --show-toplevel)
SHARED=$(cd "$REPO" && for d in .. ../..; do [ -d "$d/shared/conformance" ] && { cd "$d/shared"; pwd; break; }; done)
ROOT=${1:-/tmp/agentctl-fresh-root}
PRISTINE=$ROOT.pristine NS=agentctl-fresh NET=10.213.0
log() { echo "ci-fresh-root: $*"; }
[ "$(id -u)" = 0 ] || { echo "ci-fresh-root: needs root" >&2; exit 1; }
[ -n "$SHARED" ] || { echo "ci-fresh-root: no shared/conformance beside $REPO" >&2; exit 1; }

if [ ! -x "$PRISTINE/usr/bin/python3" ]; then
  log "debootstrap bookworm (python3, ca-certificates) into $PRISTINE"
  rm -rf "$PRISTINE"
  debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$PRISTINE" \
    "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$PRISTINE.log" 2>&1
  cp /usr/local/share/ca-certificates/*.crt "$PRISTINE/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$PRISTINE" update-ca-certificates >/dev/null
  cp /etc/resolv.conf "$PRISTINE/etc/resolv.conf"
  ! command -v docker >/dev/null || cp "$(command -v docker)" "$PRISTINE/usr/local/bin/docker"
fi
rm -rf "$ROOT" && cp -a "$PRISTINE" "$ROOT"
mkdir -p "$ROOT/work/agentctl" "$ROOT/work/shared"
git -C "$REPO" archive HEAD | tar -x -C "$ROOT/work/agentctl"
cp -r "$SHARED/conformance" "$ROOT/work/shared/" && rm -rf "$ROOT/work/shared/conformance/sdevs/node_modules"
log "HEAD $(git -C "$REPO" rev-parse --short HEAD) in $ROOT; missing there: $(for p in dockerd node npm make; do
  chroot "$ROOT" sh -c "command -v $p >/dev/null" || printf '%s ' "$p"; done)"

cleanup() {
  iptables -D FORWARD -s $NET.0/24 -j ACCEPT 2>/dev/null || true
  iptables -D FORWARD -d $NET.0/24 -j ACCEPT 2>/dev/null || true
  iptables -t nat -D POSTROUTING -s $NET.0/24 ! -o vethfresh0 -j MASQUERADE 2>/dev/null || true
  ip link del vethfresh0 2>/dev/null || true
  ip netns del $NS 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add $NS
ip link add vethfresh0 type veth peer name vethfresh1
ip link set vethfresh1 netns $NS
ip addr add $NET.1/24 dev vethfresh0 && ip link set vethfresh0 up
ip netns exec $NS sh -c "ip addr add $NET.2/24 dev vethfresh1 && ip link set vethfresh1 up && ip link set lo up \
  && ip route add default via $NET.1"
iptables -I FORWARD 1 -s $NET.0/24 -j ACCEPT
iptables -I FORWARD 1 -d $NET.0/24 -j ACCEPT
iptables -t nat -A POSTROUTING -s $NET.0/24 ! -o vethfresh0 -j MASQUERADE

# The environment a machine of our kind has: CA bundle variables (a TLS-inspecting egress needs them).
nsenter --net=/var/run/netns/$NS unshare --mount --pid --fork --propagation private bash -c "
  set -e
  mount --bind '$ROOT' '$ROOT'
  mount -t proc proc '$ROOT/proc'
  mount -t sysfs sysfs '$ROOT/sys'
  mount --rbind /sys/fs/cgroup '$ROOT/sys/fs/cgroup'
  mount --rbind /dev '$ROOT/dev'
  mount -t tmpfs tmpfs '$ROOT/run'
  mkdir -p '$ROOT/.oldroot' && cd '$ROOT' && pivot_root . .oldroot && umount -l /.oldroot
  exec /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    bash -c 'cd /work/agentctl && bash .ci/run'
"
