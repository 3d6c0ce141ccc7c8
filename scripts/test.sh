#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, conformance and end-to-end tests.
# Installs and starts what the tests need (Python venvs, the AWS emulator, npm tools) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

step_started=$SECONDS
step() {
  printf '(%ss)\n\n==> %s\n' "$((SECONDS - step_started))" "$*"
  step_started=$SECONDS
}

step "OpenSSL headers for webauthn-rs (apt-get libssl-dev pkg-config when missing)"
./scripts/ensure-openssl.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "build binaries used by the end-to-end tests"
cargo build --workspace --bins

step "Lambda binaries link production crates only (no stand-ins, test kit or rcgen)"
./scripts/check-lambda-deps.sh

step "dependency hygiene (cargo deny: licences, bans, sources; advisories when the database exists)"
./scripts/deny.sh

step "start the AWS emulator"
# shellcheck source=scripts/aws-emulator.sh
. scripts/aws-emulator.sh
trap aws_emulator_stop EXIT
aws_emulator_start

step "install the independent OpenID provider for the Buypass interop test (npm, pinned)"
npm ci --prefix tests/oidc-interop --no-audit --no-fund --silent
# The interop test fails rather than skips when its provider is missing.
export OIDC_INTEROP_REQUIRED=1

# The emulator is one process serving every test at once, on a machine that is also running
# the tests: an SDK call there may take longer than the portal's 4 s budget for AWS, which
# would fail a test for the emulator's pace. Those two steps give it 15 s (under the tests'
# 20 s HTTP client timeout); the test that pins the 4 s budget ignores the variable.
emulator_timeout=PORTAL_AWS_OPERATION_TIMEOUT_SECS=15

step "cargo test"
env "$emulator_timeout" cargo test --workspace

step "end-to-end tests again, on DynamoDB and SNS in the AWS emulator"
# One at a time: the emulator keeps a single SMS log for every test.
env "$emulator_timeout" E2E_BACKEND=aws cargo test -p e2e -- --test-threads=1

step "contract conformance (Schemathesis over openapi.yaml against portal-local)"
./scripts/schemathesis.sh

step "load and fault test (portal-local on SQLite and on DynamoDB in the emulator, then SIGKILL)"
target/debug/portal-load

step "openapi.yaml lint (Redocly, pinned)"
if [ ! -x tools/openapi/node_modules/.bin/redocly ]; then
  npm ci --prefix tools/openapi --no-audit --no-fund --silent
fi
(cd tools/openapi && node_modules/.bin/redocly lint --config redocly.yaml ../../openapi.yaml)

step "benchmarks, smoke mode (keeps them compiling and working; figures not meaningful)"
./scripts/bench.sh --quick

./scripts/check-infra.sh # infra/: terraform fmt, checkov, contract check against openapi.yaml and the code
./scripts/browser-tests.sh
echo "($((SECONDS - step_started))s)"
