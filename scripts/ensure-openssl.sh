#!/usr/bin/env bash
# webauthn-rs (passkeys) links OpenSSL: a host build needs its headers and pkg-config. Installs
# Debian's libssl-dev and pkg-config with apt-get when either is missing (the arm64 Lambda
# build does not need them: it builds a vendored OpenSSL, see functions/entry/lambda/Cargo.toml).
set -euo pipefail
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl 2>/dev/null; then
  exit 0
fi
echo "installing libssl-dev and pkg-config (apt)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >/dev/null
