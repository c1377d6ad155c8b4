#!/usr/bin/env bash
# Smoke test of the real server binary over gRPC, with grpcurl and server
# reflection only (no .proto files): starts target/debug/catalog-server on
# a free loopback port with a throwaway SQLite database and the sample
# catalogs, checks health, reflection, authentication (the server makes its
# local development tokens next to the database) and a few calls of every
# service and the /metrics endpoint on the same port, then stops it with
# SIGTERM and expects a clean exit.
#
# Needs: cargo, grpcurl (${GRPCURL:-grpcurl}, .ci/run installs it), jq,
# curl (for the raw reflection v1alpha check and GET /metrics; skipped
# without it).
# SMOKE_SKIP_BUILD=1 uses the binary as it is, without `cargo build`.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPCURL=${GRPCURL:-grpcurl}
SERVER_BIN=${CARGO_TARGET_DIR:-target}/debug/catalog-server
CHECKS=0
SERVER_PID=
TMP=$(mktemp -d)
LOG=$TMP/server.log

say() { echo "smoke: $*"; }
pass() {
  CHECKS=$((CHECKS + 1))
  echo "  ok $CHECKS: $*"
}
fail() {
  echo "smoke: FAIL: $*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -f "$LOG" ]]; then
    echo "smoke: last lines of the server log ($LOG):" >&2
    tail -n 40 "$LOG" >&2 || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v "$GRPCURL" >/dev/null 2>&1 || fail "grpcurl not found (GRPCURL=$GRPCURL); install it: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"
command -v jq >/dev/null 2>&1 || fail "jq not found; install it (apt-get install jq)"

if [[ "${SMOKE_SKIP_BUILD:-}" != 1 ]]; then
  say "building catalog-server"
  cargo build --bin catalog-server
fi
[[ -x "$SERVER_BIN" ]] || fail "$SERVER_BIN does not exist; run cargo build --bin catalog-server"

# --- start -----------------------------------------------------------------
# Port 0: the kernel picks a free port, the server logs the address it bound.
say "starting $SERVER_BIN (database in $TMP)"
CATALOG_LISTEN=127.0.0.1:0 \
  CATALOG_DATABASE_URL="sqlite://$TMP/catalog.db" \
  CATALOG_LOG_FORMAT=json \
  CATALOG_LOG=info \
  CATALOG_SOURCES=samples/catalog-sources.yaml \
  "$SERVER_BIN" >"$LOG" 2>&1 </dev/null &
SERVER_PID=$!

ADDR=
for _ in $(seq 300); do
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited during start-up"
  ADDR=$(jq -Rr 'fromjson? | select(.message? // "" | test("listening")) | .addr // empty' "$LOG" 2>/dev/null | head -n 1)
  [[ -n "$ADDR" ]] && break
  sleep 0.1
done
[[ -n "$ADDR" ]] || fail "no 'listening' line with an addr field in the server's JSON log within 30 s"
say "server pid $SERVER_PID listening on $ADDR"

# --- development credentials ------------------------------------------------
# No CATALOG_JWT_SECRET and a loopback listener: the server wrote a secret
# and tokens, owner-only, into the data directory (the database's folder).
for file in dev-jwt.secret dev-admin.token dev-approver.token dev-viewer.token; do
  [[ -f "$TMP/$file" ]] || fail "the server did not write $TMP/$file"
  mode=$(stat -c %a "$TMP/$file")
  [[ "$mode" == 600 ]] || fail "$TMP/$file has mode $mode, expected 600"
done
pass "development credentials in the data directory, mode 0600"
ADMIN_TOKEN=$(cat "$TMP/dev-admin.token")
VIEWER_TOKEN=$(cat "$TMP/dev-viewer.token")
grep -qF "$TMP/dev-admin.token" "$LOG" || fail "the server log does not say where the admin token is"
pass "the server log names the admin token file"

# grpcurl with sane time limits; extra arguments go before the address.
# g sends no token (health and reflection need none); ga sends the admin's.
g() { "$GRPCURL" -plaintext -connect-timeout 5 -max-time 30 "$@"; }
ga() { g -H "authorization: Bearer $ADMIN_TOKEN" "$@"; }
# call METHOD [JSON]: prints the response JSON; fails loudly on an error.
call() {
  local method=$1 data=${2:-'{}'} out
  if ! out=$(ga -d "$data" "$ADDR" "$method" 2>"$TMP/call.err"); then
    fail "$method $data failed: $(cat "$TMP/call.err")"
  fi
  printf '%s\n' "$out"
}
# refused EXPECTED-EXIT CODE-NAME DESCRIPTION GRPCURL-ARGS...: the call must
# fail with that status (grpcurl exits 64 + the status code).
refused() {
  local want=$1 code=$2 what=$3 rc=0
  shift 3
  g "$@" >"$TMP/refused.out" 2>"$TMP/refused.err" || rc=$?
  if [[ $rc -ne $want ]] || ! grep -q "Code: $code" "$TMP/refused.err"; then
    fail "$what: expected $code (grpcurl exit $want), got exit $rc: $(cat "$TMP/refused.err" "$TMP/refused.out")"
  fi
  pass "$what: $code"
}
# expect JSON JQ-EXPR DESCRIPTION: the jq expression must yield true.
expect() {
  local json=$1 expr=$2 what=$3
  if ! jq -e "$expr" >/dev/null 2>&1 <<<"$json"; then
    echo "smoke: response was:" >&2
    head -c 4000 <<<"$json" >&2
    echo >&2
    fail "$what (jq: $expr)"
  fi
  pass "$what"
}

# --- health ----------------------------------------------------------------
deadline=$((SECONDS + 60))
while :; do
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited before turning SERVING"
  if out=$(g -max-time 3 "$ADDR" grpc.health.v1.Health/Check 2>/dev/null) &&
    jq -e '.status == "SERVING"' >/dev/null 2>&1 <<<"$out"; then
    break
  fi
  ((SECONDS < deadline)) || fail "grpc.health.v1.Health/Check did not report SERVING within 60 s (last: ${out:-no answer})"
  sleep 0.5
done
pass "health: overall status SERVING"
out=$(call grpc.health.v1.Health/Check '{"service":"catalog.v1alpha1.AssetService"}')
expect "$out" '.status == "SERVING"' "health: catalog.v1alpha1.AssetService SERVING"

# Every log line so far is JSON (CATALOG_LOG_FORMAT=json).
if ! jq -e . "$LOG" >/dev/null 2>&1; then
  fail "server log is not JSON lines with CATALOG_LOG_FORMAT=json: $(head -n 3 "$LOG")"
fi
pass "server log is JSON lines"

# --- reflection --------------------------------------------------------------
services=$(g "$ADDR" list 2>"$TMP/list.err") || fail "grpcurl list failed: $(cat "$TMP/list.err")"
for svc in catalog.v1alpha1.PluginService catalog.v1alpha1.AssetService catalog.v1alpha1.SourceService \
  grpc.health.v1.Health grpc.reflection.v1.ServerReflection; do
  grep -qxF "$svc" <<<"$services" || fail "'grpcurl list' lacks $svc; it listed: $(tr '\n' ' ' <<<"$services")"
done
pass "reflection: list has the 3 catalog services, health and reflection v1"

desc=$(g -use-reflection "$ADDR" describe catalog.v1alpha1.AssetService 2>"$TMP/d.err") ||
  fail "describe catalog.v1alpha1.AssetService failed: $(cat "$TMP/d.err")"
grep -q 'rpc GetAsset' <<<"$desc" || fail "describe catalog.v1alpha1.AssetService lacks rpc GetAsset: $desc"
pass "reflection: describe catalog.v1alpha1.AssetService"

desc=$(g "$ADDR" describe catalog.v1alpha1.AssetService.ListAssets 2>"$TMP/d.err") ||
  fail "describe catalog.v1alpha1.AssetService.ListAssets failed: $(cat "$TMP/d.err")"
grep -q 'rpc ListAssets' <<<"$desc" || fail "describe ...ListAssets did not describe the method: $desc"
pass "reflection: describe catalog.v1alpha1.AssetService.ListAssets"

# grpcurl 1.9 only falls back to v1alpha when v1 is missing, so ask the
# v1alpha service directly: one raw gRPC frame holding a
# ServerReflectionRequest{list_services: ""} (field 7, empty string).
if command -v curl >/dev/null 2>&1 && curl --version | grep -q HTTP2; then
  printf '\x00\x00\x00\x00\x02\x3a\x00' >"$TMP/reflect.bin"
  curl -sS --max-time 10 --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @"$TMP/reflect.bin" -D "$TMP/reflect.hdr" -o "$TMP/reflect.out" \
    "http://$ADDR/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" ||
    fail "raw call of grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo failed"
  grep -qi '^grpc-status: 0' "$TMP/reflect.hdr" ||
    fail "reflection v1alpha: expected grpc-status 0, got headers/trailers: $(tr -d '\r' <"$TMP/reflect.hdr" | tr '\n' ' ')"
  grep -qaF catalog.v1alpha1.AssetService "$TMP/reflect.out" ||
    fail "reflection v1alpha: list_services answer lacks catalog.v1alpha1.AssetService"
  pass "reflection: v1alpha ServerReflection lists catalog.v1alpha1.AssetService"
else
  say "WARNING: curl with HTTP/2 not found; reflection v1alpha not checked directly"
fi

# --- authentication ----------------------------------------------------------
refused 80 Unauthenticated "ListPlugins without a token" "$ADDR" catalog.v1alpha1.PluginService/ListPlugins
signature=${ADMIN_TOKEN##*.}
[[ ${signature:0:1} == A ]] && flipped=B || flipped=A
refused 80 Unauthenticated "ListPlugins with a tampered signature" \
  -H "authorization: Bearer ${ADMIN_TOKEN%.*}.$flipped${signature:1}" "$ADDR" catalog.v1alpha1.PluginService/ListPlugins
refused 71 PermissionDenied "ExecuteSourceAction as dev-viewer" -H "authorization: Bearer $VIEWER_TOKEN" \
  -d '{"plugin":"agents","sourceId":"sample-agents","action":"validate"}' \
  "$ADDR" catalog.v1alpha1.SourceService/ExecuteSourceAction
out=$(call catalog.v1alpha1.SourceService/ExecuteSourceAction '{"plugin":"agents","sourceId":"sample-agents","action":"validate"}')
expect "$out" '.status == "completed"' "ExecuteSourceAction(validate) as dev-admin: completed"

# --- PluginService -----------------------------------------------------------
out=$(call catalog.v1alpha1.PluginService/ListPlugins)
expect "$out" '(.plugins | length) == 12 and (.count | tonumber) == 12' "ListPlugins: 12 plugins, count 12"

out=$(call catalog.v1alpha1.PluginService/GetPluginCapabilities '{"plugin":"agents"}')
expect "$out" '.entities[0].kind == "Agent"' "GetPluginCapabilities(agents): entities[0].kind == Agent"

# --- AssetService ------------------------------------------------------------
page1=$(call catalog.v1alpha1.AssetService/ListAssets '{"plugin":"agents","pageSize":3}')
expect "$page1" '(.items | length) == 3 and ((.nextPageToken // "") | length) > 0' \
  "ListAssets(agents, pageSize 3): 3 items and a nextPageToken"
token=$(jq -r .nextPageToken <<<"$page1")
names1=$(jq -c '[.items[].metadata.name]' <<<"$page1")
first=$(jq -r '.items[0].metadata.name' <<<"$page1")

page2=$(call catalog.v1alpha1.AssetService/ListAssets "$(jq -nc --arg t "$token" '{plugin:"agents",pageSize:3,pageToken:$t}')")
expect "$page2" "(.items | length) > 0 and ([.items[].metadata.name] - $names1 | length) == (.items | length)" \
  "ListAssets page 2: items, none of them on page 1"

out=$(call catalog.v1alpha1.AssetService/ListAssets "{\"plugin\":\"agents\",\"filterQuery\":\"agentType = 'router'\"}")
expect "$out" '(.items | length) >= 1 and all(.items[]; .spec.agentType == "router")' \
  "ListAssets(filterQuery agentType = 'router'): >= 1 item, all routers"

out=$(call catalog.v1alpha1.AssetService/GetAsset "$(jq -nc --arg n "$first" '{plugin:"agents",kind:"Agent",name:$n}')")
expect "$out" "$(jq -nc --arg n "$first" '$n') as \$n | .metadata.name == \$n and .provenance.source.type == \"yaml\" and (.provenance.revision.id | startswith(\"sha256:\"))" \
  "GetAsset(agents/Agent/$first): name, yaml provenance, sha256 revision"

# --- SourceService -----------------------------------------------------------
out=$(call catalog.v1alpha1.SourceService/ListSources '{"plugin":"agents"}')
expect "$out" 'any(.items[]; .id == "sample-agents" and .status.state == "available")' \
  "ListSources(agents): sample-agents is available"

# --- errors and metadata -------------------------------------------------------
rc=0
ga -d '{"plugin":"agents","filterQuery":"name = "}' "$ADDR" catalog.v1alpha1.AssetService/ListAssets \
  >"$TMP/bad.out" 2>"$TMP/bad.err" || rc=$?
# grpcurl exits 64 + the status code: InvalidArgument (3) gives 67.
if [[ $rc -ne 67 ]] || ! grep -q 'Code: InvalidArgument' "$TMP/bad.err"; then
  fail "bad filterQuery 'name = ': expected InvalidArgument (grpcurl exit 67), got exit $rc: $(cat "$TMP/bad.err" "$TMP/bad.out")"
fi
pass "ListAssets(filterQuery 'name = '): InvalidArgument"

verbose=$(ga -v -H 'x-request-id: smoke-123' "$ADDR" catalog.v1alpha1.PluginService/ListPlugins 2>&1) ||
  fail "ListPlugins with x-request-id failed: $verbose"
headers=$(awk '/^Response headers received:/{on=1; next} on && /^$/{exit} on' <<<"$verbose")
grep -qxF 'x-request-id: smoke-123' <<<"$headers" ||
  fail "x-request-id was not echoed in the response headers; got: $(tr '\n' ' ' <<<"$headers")"
pass "x-request-id: smoke-123 echoed in the response headers"

# --- metrics: plain HTTP/1.1 on the same port, no token -----------------------
if command -v curl >/dev/null 2>&1; then
  metrics=$(curl -sS --max-time 10 --http1.1 -D "$TMP/metrics.headers" "http://$ADDR/metrics" 2>&1) ||
    fail "GET /metrics failed: $metrics"
  grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/metrics.headers" ||
    fail "GET /metrics is not in the text format; headers: $(tr '\r\n' '  ' <"$TMP/metrics.headers")"
  # The two refused ListPlugins calls above (no token, tampered signature).
  unauthenticated='grpc_server_handled_total{service="catalog.v1alpha1.PluginService",method="ListPlugins",code="Unauthenticated"} 2'
  grep -qxF "$unauthenticated" <<<"$metrics" ||
    fail "GET /metrics lacks: $unauthenticated; got: $(grep '^grpc_server_handled_total' <<<"$metrics" | tr '\n' ' ')"
  pass "GET /metrics over HTTP/1.1 without a token: text format, refusals counted"
else
  say "WARNING: curl not found; /metrics not checked"
fi

# Tokens never reach the log, neither the ones used nor the refused ones.
grep -qF "${ADMIN_TOKEN#*.}" "$LOG" && fail "the server log contains the admin token"
grep -qF "${VIEWER_TOKEN#*.}" "$LOG" && fail "the server log contains the viewer token"
pass "no token in the server log"

# --- shutdown ----------------------------------------------------------------
kill -TERM "$SERVER_PID"
for _ in $(seq 100); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$SERVER_PID" 2>/dev/null && fail "the server did not exit within 10 s of SIGTERM"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=
[[ $rc -eq 0 ]] || fail "the server exited with code $rc after SIGTERM (expected 0)"
pass "SIGTERM: server exited 0 within 10 s"

say "$CHECKS checks passed"
