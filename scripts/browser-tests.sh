#!/usr/bin/env bash
# Browser tests of the portal front end (portal-ui/): Playwright (playwright-core, pinned)
# drives Debian's Chromium against the real portal-local binary on a fresh data dir.
# Installs Chromium (apt) and the npm package when missing. Screenshots of every screen land
# in artifacts/browser/ (not committed). Arguments: test files to run (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

tests_dir=portal-ui/tests
if [ ! -f "$tests_dir/node_modules/playwright-core/package.json" ] \
  || [ "$tests_dir/package-lock.json" -nt "$tests_dir/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$tests_dir" --no-audit --no-fund --silent
fi

cargo build -q -p portal-local -p portal-admin -p e2e --bins

data=$(mktemp -d)
portal_pid=
cleanup() {
  if [ -n "$portal_pid" ]; then kill "$portal_pid" 2>/dev/null || true; wait "$portal_pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT

# A registered card stays pending for 3 s (no sweep meanwhile), so the tests see the live
# status change from pending to active.
# A fixed gateway key: the security tests ask the gateway's lookup whether a card is active.
# The portal's own address is http://localhost:<port> (--host-name): a secure context whose
# host, unlike 127.0.0.1, can be a WebAuthn relying party, so passkeys are offered.
export PORTAL_GATEWAY_KEY="browser-tests-gateway-key-$$-$RANDOM"
target/debug/portal-local --port 0 --host-name localhost --data-dir "$data/portal" --no-demo --ui-dir portal-ui \
  --activation-delay-seconds 3 --activation-sweep-seconds 600 --gateway-key "$PORTAL_GATEWAY_KEY" >"$data/portal.log" 2>&1 &
portal_pid=$!
address=
for _ in $(seq 1 300); do
  address=$(sed -n 's/^listening on //p' "$data/portal.log" | head -n1)
  [ -n "$address" ] && break
  if ! kill -0 "$portal_pid" 2>/dev/null; then cat "$data/portal.log"; echo "portal-local did not start" >&2; exit 1; fi
  sleep 0.1
done
if [ -z "$address" ]; then cat "$data/portal.log"; echo "portal-local did not report its address" >&2; exit 1; fi

export PORTAL_BASE_URL="http://localhost:${address##*:}"
export PORTAL_DATA_DIR="$data/portal"
export PORTAL_ADMIN_BIN="$root/target/debug/portal-admin"
# passkeys.test.js starts a second portal on its default address (an IP: no relying party).
export PORTAL_LOCAL_BIN="$root/target/debug/portal-local"
# Test accounts whose password is their own (portal-admin makes every given password one to change).
export PORTAL_FIXTURE_BIN="$root/target/debug/portal-fixture"
export BROWSER_ARTIFACTS="$root/artifacts/browser"
export TEST_USERNAME=kari.nordmann TEST_MOBILE=+4791234567 TEST_PASSWORD='Solbær-Fjellvann-Lanterne-42'
PORTAL_NEW_PASSWORD="$TEST_PASSWORD" target/debug/portal-fixture --data-dir "$PORTAL_DATA_DIR" create-account \
  --username "$TEST_USERNAME" --name "Kari Nordmann" --mobile "$TEST_MOBILE" --home-office >/dev/null

rm -rf "$BROWSER_ARTIFACTS"
started=$(date +%s)
status=0
# Arguments name test files of portal-ui/tests (passkeys.test.js …); none: all of them.
if [ "$#" -gt 0 ]; then tests=("$@"); else tests=(); fi
(cd "$tests_dir" && if [ "${#tests[@]}" -eq 0 ]; then tests=(./*.test.js); fi \
  && node --test --test-concurrency=1 --test-reporter=spec "${tests[@]}") || status=$?
echo "browser tests: $(( $(date +%s) - started )) s; screenshots in artifacts/browser/"
if [ "$status" -ne 0 ]; then
  echo "--- portal-local log (last 40 lines) ---"; tail -n 40 "$data/portal.log"
fi
exit "$status"
