#!/usr/bin/env bash
# The main job, end to end on the local emulator (`make demo` runs this in the project's venv):
# scaffold an agent, deploy it, invoke it, publish v1, change the code, deploy, publish v2,
# send 10% then 50% of `production` to v2, cut over, roll back — printing `endpoint list` at each step
# and checking each split by sending real requests through the gateway.
#
# Everything lives in DEMO_DIR (default: a new temp dir) with its own AGENTCTL_HOME, so the demo never
# touches your credentials; the emulator it starts is stopped at the end (KEEP=1 leaves it running).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DEMO_DIR=${DEMO_DIR:-$(mktemp -d -t agentctl-demo.XXXXXX)}
export AGENTCTL_HOME=${AGENTCTL_HOME:-$DEMO_DIR/home}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
finish() { [ "${KEEP:-0}" = 1 ] || agentctl local stop >/dev/null 2>&1 || true; }
trap finish EXIT

url_of() {  # the gateway URL of an endpoint
  agentctl -o json endpoint get --endpoint-name "$1" | python3 -c \
    'import json,sys; e=json.load(sys.stdin); print(e.get("url") or e["endpointPublicUrl"])'
}
split() {  # endpoint list, then a real count of versions over 200 requests
  agentctl endpoint list
  python3 "$HERE/traffic.py" "$(url_of production)/health" 200
}

cd "$DEMO_DIR"
step "init: scaffold the default template (python-echo) in $DEMO_DIR/echo-agent"
agentctl init python-echo echo-agent
cd echo-agent
agentctl verify

step "deploy to the local emulator"
agentctl deploy -y

step "invoke: a streamed chat answer"
agentctl invoke --message "hello from the demo"

step "version publish: freeze LATEST as version 1"
agentctl version publish --description "v1: first echo"
agentctl endpoint publish --endpoint-name production --target-version 1 --description "what users call"

step "change the code, deploy, publish version 2"
sed -i 's/"v1"/"v2"/' code/app.py
agentctl deploy -y
agentctl version publish --description "v2: new reply tag"
agentctl version list

step "canary: 10% of production to version 2"
agentctl endpoint publish --endpoint-name production --target-version 1 --canary-version 2 --weight 0.1
split

step "raise the canary: 50% of production to version 2"
agentctl endpoint publish --endpoint-name production --target-version 2 --weight 0.5
split

step "cut over: all of production on version 2"
agentctl endpoint publish --endpoint-name production --target-version 2
split

step "roll back: production back on version 1 (instant)"
agentctl endpoint publish --endpoint-name production --target-version 1
split

step "done"
echo "The project is in $DEMO_DIR/echo-agent (AGENTCTL_HOME=$AGENTCTL_HOME)."
