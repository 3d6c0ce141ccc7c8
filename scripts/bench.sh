#!/usr/bin/env bash
# All benchmarks of BENCHMARKS.md in one run: login throughput against the hash rate, Lambda
# cold start / memory / size against a minimal function, and the hot paths (criterion).
#   ./scripts/bench.sh           full run on release builds (slow to build the first time)
#   ./scripts/bench.sh --quick   smoke mode on debug builds (what CI runs): checks they work
set -euo pipefail
cd "$(dirname "$0")/.."

functions=(-p login -p sms-code -p account -p buypass -p serial-activation -p portal-bench)
if [ "${1:-}" = "--quick" ]; then
  cargo build "${functions[@]}"
  ./target/debug/portal-bench --quick login
  ./target/debug/portal-bench --quick lambda --binaries target/debug
  cargo test -p portal --bench hot_paths --quiet
else
  cargo build --release "${functions[@]}"
  ./target/release/portal-bench all
  cargo bench -p portal --bench hot_paths
fi
