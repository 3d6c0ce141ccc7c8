#!/usr/bin/env bash
# All benchmarks of BENCHMARKS.md in one run: login throughput against the hash rate, Lambda
# cold start / memory / size against a minimal function (and with the key secrets read from
# Secrets Manager), the AWS round-trip and capacity ledger with the cost of a million logins,
# and the hot paths (criterion). The ledger, the cost model and the Secrets Manager cold start
# need the AWS emulator: started here unless the caller (scripts/test.sh) already did.
#   ./scripts/bench.sh           full run on release builds (slow to build the first time),
#                                with the arm64 zips built first for the size column
#   ./scripts/bench.sh --no-zips the same without building the zips (sizes of earlier ones, if any)
#   ./scripts/bench.sh --quick   smoke mode on debug builds (what CI runs): checks they work
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PORTAL_TEST_AWS_ENDPOINT:-}" ]; then
  # shellcheck source=scripts/aws-emulator.sh
  . scripts/aws-emulator.sh
  trap aws_emulator_stop EXIT
  aws_emulator_start
fi

functions=(-p login -p sms-code -p account -p buypass -p serial-activation -p portal-bench)
if [ "${1:-}" = "--quick" ]; then
  cargo build "${functions[@]}"
  ./target/debug/portal-bench --quick login
  ./target/debug/portal-bench --quick lambda --binaries target/debug
  ./target/debug/portal-bench --quick cost
  cargo test -p portal-http --bench hot_paths --quiet
else
  if [ "${1:-}" != "--no-zips" ]; then
    ./scripts/build-lambdas.sh
  fi
  cargo build --release "${functions[@]}"
  ./target/release/portal-bench all
  cargo bench -p portal-http --bench hot_paths
fi
