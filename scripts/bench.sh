#!/usr/bin/env bash
# All benchmarks of BENCHMARKS.md in one run: login throughput against the hash rate, Lambda
# cold start / memory / size against a minimal function, and the hot paths (criterion).
#   ./scripts/bench.sh           full run on release builds (slow to build the first time),
#                                with the arm64 zips built first for the size column
#   ./scripts/bench.sh --no-zips the same without building the zips (sizes of earlier ones, if any)
#   ./scripts/bench.sh --quick   smoke mode on debug builds (what CI runs): checks they work
set -euo pipefail
cd "$(dirname "$0")/.."

functions=(-p login -p sms-code -p account -p buypass -p serial-activation -p portal-bench)
if [ "${1:-}" = "--quick" ]; then
  cargo build "${functions[@]}"
  ./target/debug/portal-bench --quick login
  ./target/debug/portal-bench --quick lambda --binaries target/debug
  cargo test -p portal-http --bench hot_paths --quiet
else
  if [ "${1:-}" != "--no-zips" ]; then
    ./scripts/build-lambdas.sh
  fi
  cargo build --release "${functions[@]}"
  ./target/release/portal-bench all
  cargo bench -p portal-http --bench hot_paths
fi
