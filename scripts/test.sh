#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, conformance and end-to-end tests.
# Installs and starts what the tests need (Python venvs, the AWS emulator, npm tools) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "build binaries used by the end-to-end tests"
cargo build --workspace --bins

step "start the AWS emulator"
# shellcheck source=scripts/aws-emulator.sh
. scripts/aws-emulator.sh
trap aws_emulator_stop EXIT
aws_emulator_start

step "cargo test"
cargo test --workspace
