#!/usr/bin/env bash
# Runs the conformance suite against real servers (spec 11 §1, "single
# command"): one server on a fresh embedded SQLite database, then, when
# CATALOG_TEST_POSTGRES_URL is set, two replicas sharing one fresh
# PostgreSQL database with the harness spreading its calls over both.
# Every server runs the suite's approval policy, may read the rendered
# fixtures (CATALOG_SOURCE_ROOTS) and loads the manifest-only plugin in
# conformance/fixtures/plugins. Fails when any check fails.
#
#   bash conformance/run.sh            # from the repository root
#   CONFORMANCE_ARGS="--plugin agents" bash conformance/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

cargo build -p catalog --bin catalog-server
cargo build -p catalog-conformance
SERVER="$ROOT/target/debug/catalog-server"
HARNESS="$ROOT/target/debug/catalog-conformance"
WORK=$(mktemp -d /tmp/catalog-conformance.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server NAME DATABASE_URL SECRET_FILE -> prints the address
start_server() {
  local name=$1 url=$2 secret=$3 port
  port=$(free_port)
  CATALOG_LISTEN="127.0.0.1:$port" \
    CATALOG_DATABASE_URL="$url" \
    CATALOG_JWT_SECRET_FILE="$secret" \
    CATALOG_APPROVAL_POLICIES="$ROOT/conformance/fixtures/approval-policies.yaml" \
    CATALOG_SOURCE_ROOTS="$ROOT/conformance/fixtures" \
    CATALOG_PLUGINS_DIR="$ROOT/conformance/fixtures/plugins" \
    CATALOG_LOG=warn \
    "$SERVER" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  echo "127.0.0.1:$port"
}

run_harness() {
  local label=$1 secret=$2
  shift 2
  local targets=("$@")
  echo "==> conformance on $label (${targets[*]})"
  local args=()
  for t in "${targets[@]}"; do args+=(--target "$t"); done
  # shellcheck disable=SC2086
  if ! "$HARNESS" "${args[@]}" --jwt-secret-file "$secret" \
    --junit "$WORK/junit-$label.xml" --json-dir "$ROOT/target/conformance/$label" ${CONFORMANCE_ARGS:-}; then
    echo "conformance failed on $label; server logs:" >&2
    tail -n 50 "$WORK"/*.log >&2 || true
    return 1
  fi
  mkdir -p "$ROOT/target/conformance"
  cp "$WORK/junit-$label.xml" "$ROOT/target/conformance/junit-$label.xml"
}

SECRET="$WORK/jwt.secret"
head -c 48 /dev/urandom | base64 | tr -d '\n' >"$SECRET"

sqlite_addr=$(start_server sqlite "sqlite://$WORK/conformance.db" "$SECRET")
run_harness sqlite "$SECRET" "$sqlite_addr"

if [[ -n "${CATALOG_TEST_POSTGRES_URL:-}" ]]; then
  # A fresh database on the given server, so earlier runs do not matter.
  db="conformance_$(date +%s)_$$"
  base="${CATALOG_TEST_POSTGRES_URL%/*}"
  psql "$CATALOG_TEST_POSTGRES_URL" -qc "CREATE DATABASE $db"
  first=$(start_server pg-1 "$base/$db" "$SECRET")
  # The second replica starts once the first has migrated the database.
  sleep 3
  second=$(start_server pg-2 "$base/$db" "$SECRET")
  run_harness postgres "$SECRET" "$first" "$second"
elif [[ "${CI:-}" == "true" ]]; then
  echo "error: CI=true but CATALOG_TEST_POSTGRES_URL is not set" >&2
  exit 1
else
  echo "!!! conformance on PostgreSQL SKIPPED: set CATALOG_TEST_POSTGRES_URL" >&2
fi
echo "==> conformance passed"
