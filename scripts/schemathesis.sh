#!/usr/bin/env bash
# Property-based tests of Candor's REST API from its own OpenAPI document: schemathesis
# (PyPI) generates requests for every operation in /openapi.json, valid and invalid, sends
# them to a real `candor serve` (the demo world on the embedded store) with valid
# credentials, and fails on any 5xx or any response that breaks the document's schema.
#
#   scripts/schemathesis.sh            # 100 examples per operation
#   scripts/schemathesis.sh --short    # 10 (what CI runs)
#
# Needs `schemathesis` on PATH (pip install schemathesis) or SCHEMATHESIS=/path/to/it,
# and a built `target/debug/candor` (CANDOR_BIN to use another).
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${SCHEMATHESIS_EXAMPLES:-100}"
if [ "${1:-}" = "--short" ]; then EXAMPLES=10; fi
SCHEMATHESIS="${SCHEMATHESIS:-schemathesis}"
BIN="${CANDOR_BIN:-target/debug/candor}"
if [ ! -x "$BIN" ]; then cargo build --bin candor; fi
command -v "$SCHEMATHESIS" >/dev/null || { echo "schemathesis not found: pip install schemathesis" >&2; exit 2; }

DATA="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

# Starts candor serve in the background; sets PID and BASE.
start() {
  "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" \
    --graph-requests-per-minute 100000000 --graph-requests-per-hour 100000000 "$@" \
    2>"$DATA/serve.log" &
  PID=$!
  for _ in $(seq 1 300); do
    BASE="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$DATA/serve.log" | head -n 1)"
    [ -n "$BASE" ] && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$DATA/serve.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "candor serve did not start" >&2; cat "$DATA/serve.log" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

echo "== seeding the demo world"
start --demo
stop

TENANT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenants"][0]["id"])' "$DATA/demo-credentials.json")"
field() { sed -n "s/^$1:[[:space:]]*//p"; }
APP="$("$BIN" api-client create --data-dir "$DATA" --tenant "$TENANT" --name schemathesis \
  --permissions ServiceHealth.Read.All,ServiceMessage.Read.All,AuditLog.Read.All,Lockbox.ReadWrite.All 2>&1)"
OPS="$("$BIN" operator-client create --data-dir "$DATA" --name schemathesis --break-glass \
  --roles IncidentManager,ProviderAdmin,SupportManager,DataPlaneService 2>&1)"

start
token() {
  curl -sf -X POST "$BASE/oauth2/v2.0/token" \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$1" --data-urlencode "client_secret=$2" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
APP_TOKEN="$(token "$(echo "$APP" | field client_id)" "$(echo "$APP" | field client_secret)")"
OPS_TOKEN="$(token "$(echo "$OPS" | field client_id)" "$(echo "$OPS" | field client_secret)")"

# One worker: hypothesis describes its strategies by parsing Python source with `ast`, and
# CPython up to 3.11.7 keeps the AST builder's recursion counter per interpreter, not per
# call, so when garbage collection lets a second worker thread parse at the same time, one
# fails at random with "AST constructor recursion depth mismatch" (gh-106905, fixed in
# 3.11.8 and 3.12.2; this machine's python3 is 3.11.7).
run() {
  local who="$1" token="$2"; shift 2
  echo "== schemathesis as $who ($EXAMPLES examples per operation)"
  "$SCHEMATHESIS" run "$BASE/openapi.json" \
    --checks not_a_server_error,response_schema_conformance \
    --header "Authorization: Bearer $token" \
    --max-examples "$EXAMPLES" --workers 1 \
    --suppress-health-check all \
    --seed 4711 \
    "$@"
}
status=0
run "a tenant app with every permission" "$APP_TOKEN" --include-tag lockbox --include-tag identity || status=1
run "a tenant app reading the audit log" "$APP_TOKEN" --include-tag audit || status=1
run "an operator client with every operator role" "$OPS_TOKEN" --include-tag operator --include-tag lockbox || status=1
# The token endpoint and discovery documents take no bearer token.
run "anonymous" "none" --include-tag auth || status=1
if [ "$status" -ne 0 ]; then
  echo "schemathesis found problems; the server's log follows" >&2
  grep -E "ERROR|panicked" "$DATA/serve.log" >&2 || true
fi
exit "$status"
