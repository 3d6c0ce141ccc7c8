#!/usr/bin/env bash
# Builds every Lambda function crate into target/lambda/<crate>/bootstrap.zip: arm64
# (aarch64-unknown-linux-gnu, for the provided.al2023 runtime), release profile, one command.
#
# Tools come from PyPI, hash-pinned in scripts/requirements/lambda-build.txt, into a venv this
# script creates (.tools/lambda-build-venv) and reuses while the requirements file is unchanged:
# cargo-lambda drives the build, Zig (ziglang) is the cross linker, so no aarch64 gcc is needed.
# The Rust standard library for aarch64 comes from rustup (`rustup target add`, idempotent).
#
# Usage: scripts/build-lambdas.sh [crate ...]   (default: every function crate, see below)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
VENV=.tools/lambda-build-venv
REQUIREMENTS=scripts/requirements/lambda-build.txt
PYTHON=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }

# --- tools --------------------------------------------------------------------------------------
stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [[ ! -x "$VENV/bin/cargo-lambda" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    step "create $VENV (cargo-lambda, ziglang from $REQUIREMENTS)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --require-hashes --only-binary=:all: -r "$REQUIREMENTS"
    echo "$want" >"$stamp"
fi
# cargo-zigbuild finds Zig as `python3 -m ziglang` when no `zig` is on PATH, so the venv's
# python3 must come first.
export PATH="$PWD/$VENV/bin:$PATH"

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    step "rustup target add $TARGET"
    rustup target add "$TARGET"
fi

# --- which crates -------------------------------------------------------------------------------
# The function crates scripts/lambda-crates.sh finds (login, sms-code, account, buypass and
# serial-activation as they exist; never the library or the local binaries), or those named.
if [[ $# -gt 0 ]]; then
    crates=("$@")
else
    mapfile -t crates < <(./scripts/lambda-crates.sh)
fi
if [[ ${#crates[@]} -eq 0 ]]; then
    echo "no function crates found" >&2
    exit 1
fi

# --- build --------------------------------------------------------------------------------------
step "cargo lambda build --release --arm64 --output-format zip: ${crates[*]}"
args=()
for c in "${crates[@]}"; do args+=(--package "$c"); done
# One invocation for all crates, so shared dependencies compile once.
cargo lambda build --release --arm64 --output-format zip "${args[@]}"

step "artefacts"
for c in "${crates[@]}"; do
    zip="target/lambda/$c/bootstrap.zip"
    if [[ ! -f "$zip" ]]; then
        echo "missing $zip" >&2
        exit 1
    fi
    printf '%-20s %8s bytes  %s\n' "$c" "$(stat -c %s "$zip")" "$zip"
done
