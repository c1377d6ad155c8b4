#!/usr/bin/env bash
# The project's test command: `bash scripts/test.sh` (CI runs it from .ci/run).
#
# Steps: rustfmt check, clippy (warnings are errors), buf lint of proto/,
# the Rust test suite on SQLite, the integration tests again on PostgreSQL
# when CATALOG_TEST_POSTGRES_URL is set, the grpcurl smoke test of the
# server binary, and the conformance suite (conformance/run.sh) against real
# servers on SQLite and on PostgreSQL with two replicas.
#
# Environment:
#   CATALOG_TEST_POSTGRES_URL  postgres://... of a database the integration
#                              tests may use; required when CI=true.
#   CI                         when true, nothing may be skipped.
#   GRPCURL                    grpcurl binary for the smoke test (default: grpcurl on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
  echo
  echo "==> $*"
}
warn() {
  {
    echo "!!!"
    echo "!!! WARNING: $*"
    echo "!!!"
  } >&2
}
is_ci() {
  case "${CI:-}" in
    "" | 0 | false | False | FALSE | no) return 1 ;;
    *) return 0 ;;
  esac
}

# Tools the steps need, installed into the repository when missing, so the
# command works on a fresh machine: grpcurl (pinned, built with Go) into
# .ci/bin and buf (pinned in package-lock.json) into node_modules.
export PATH="$PWD/.ci/bin:$PATH"
if ! command -v "${GRPCURL:-grpcurl}" >/dev/null 2>&1; then
  step "installing grpcurl v1.9.4 into .ci/bin"
  GOBIN="$PWD/.ci/bin" go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
fi
if ! command -v jq >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
  step "apt-get install jq"
  (apt-get install -y --no-install-recommends jq || { apt-get update && apt-get install -y --no-install-recommends jq; }) </dev/null
fi
if [[ ! -x node_modules/.bin/buf ]] && command -v npm >/dev/null 2>&1; then
  step "npm ci (buf)"
  npm ci --no-audit --no-fund </dev/null
fi

# CI skips nothing: say what is missing now, not after the long steps.
if is_ci; then
  [[ -x node_modules/.bin/buf ]] || {
    echo "error: CI=$CI but node_modules/.bin/buf is missing; run 'npm ci' first" >&2
    exit 1
  }
  [[ -n "${CATALOG_TEST_POSTGRES_URL:-}" ]] || {
    echo "error: CI=$CI but CATALOG_TEST_POSTGRES_URL is not set; the PostgreSQL run may not be skipped in CI" >&2
    exit 1
  }
fi

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "npx --no-install buf lint"
if [[ -x node_modules/.bin/buf ]]; then
  npx --no-install buf lint
  echo "buf lint: no findings"
elif is_ci; then
  echo "error: node_modules/.bin/buf is missing (CI=$CI); run 'npm ci' first" >&2
  exit 1
else
  warn "buf lint SKIPPED: node_modules/.bin/buf is missing; run 'npm ci' to install buf (CI never skips this)"
fi

step "cargo test --workspace (SQLite)"
# The integration tests use a temporary SQLite database unless told otherwise.
env -u CATALOG_TEST_DATABASE_URL cargo test --workspace

step "integration tests on PostgreSQL"
if [[ -n "${CATALOG_TEST_POSTGRES_URL:-}" ]]; then
  if compgen -G 'tests/*.rs' >/dev/null || compgen -G 'tests/*/main.rs' >/dev/null || grep -q '^\[\[test\]\]' Cargo.toml; then
    echo "CATALOG_TEST_DATABASE_URL=<CATALOG_TEST_POSTGRES_URL> cargo test --test '*'"
    CATALOG_TEST_DATABASE_URL="$CATALOG_TEST_POSTGRES_URL" cargo test --test '*'
  else
    warn "no integration tests (tests/*.rs) to run on PostgreSQL"
  fi
elif is_ci; then
  echo "error: CI=$CI but CATALOG_TEST_POSTGRES_URL is not set; the PostgreSQL run may not be skipped in CI" >&2
  exit 1
else
  warn "PostgreSQL run SKIPPED: set CATALOG_TEST_POSTGRES_URL=postgres://user@host:port/db to run the integration tests on PostgreSQL too"
fi

step "bash scripts/smoke-grpcurl.sh"
bash scripts/smoke-grpcurl.sh

step "bash conformance/run.sh (SQLite; PostgreSQL with two replicas when CATALOG_TEST_POSTGRES_URL is set)"
bash conformance/run.sh

echo
echo "==> all test steps passed"
