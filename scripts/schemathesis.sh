#!/usr/bin/env bash
# Contract conformance: Schemathesis over the whole openapi.yaml against portal-local, with
# every check, a fixed seed and the sign-in hooks of scripts/schemathesis/portal_hooks.py.
# Zero failures pass. Run alone after `cargo build --workspace --bins`:
#
#   ./scripts/schemathesis.sh                    # the CI run
#   SCHEMATHESIS_MAX_EXAMPLES=500 SCHEMATHESIS_SEED=7 ./scripts/schemathesis.sh   # longer, other seed
#
# Installs Schemathesis (pinned) into .tools/schemathesis on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.tools/schemathesis
requirements=scripts/requirements/schemathesis.txt
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s "$requirements" "$venv/.requirements"; then
  echo "installing Schemathesis into $venv"
  mkdir -p .tools && python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/.requirements"
fi

bin_dir=${PORTAL_BIN_DIR:-target/debug}
for b in portal-local portal-fixture; do
  [ -x "$bin_dir/$b" ] || { echo "$bin_dir/$b missing: run cargo build --workspace --bins" >&2; exit 1; }
done

work=$(mktemp -d)
mkdir -p target/schemathesis
portal_pid=
cleanup() {
  if [ -n "$portal_pid" ]; then
    kill "$portal_pid" 2>/dev/null || true
    wait "$portal_pid" 2>/dev/null || true
  fi
  # The portal's access log (one line per request, no bodies): what the run reached.
  [ -f "$work/portal.log" ] && cp "$work/portal.log" target/schemathesis/portal.log
  rm -rf "$work"
}
trap cleanup EXIT

# The accounts the hooks sign in with: one pool per authenticated operation.
password=$("$venv/bin/python" -c 'import sys; sys.path.insert(0, "scripts/schemathesis"); import portal_hooks; print(portal_hooks.PASSWORD)')
"$venv/bin/python" scripts/schemathesis/portal_hooks.py >"$work/accounts"
create() {
  PORTAL_NEW_PASSWORD="$password" "$bin_dir/portal-fixture" --data-dir "$work/data" create-account \
    --username "$1" --name "Schemathesis Testbruker" --mobile "$2" --home-office >/dev/null
}
# The first one alone (it creates the data dir and its keys), the rest two at a time.
read -r first_user first_mobile <"$work/accounts"
create "$first_user" "$first_mobile"
export -f create
export bin_dir work password
tail -n +2 "$work/accounts" | xargs -P 2 -L 1 bash -c 'create "$0" "$1"' ||
  { echo "creating the test accounts failed" >&2; exit 1; }

gateway_key=$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')
# A host name as the portal URL (its port does not matter for WebAuthn), so the passkey
# routes are served: with an IP address the portal has no WebAuthn relying party.
"$bin_dir/portal-local" --port 0 --data-dir "$work/data" --no-demo --gateway-key "$gateway_key" \
  --portal-url http://localhost >"$work/portal.log" 2>&1 &
portal_pid=$!
base=
for _ in $(seq 1 300); do
  base=$(sed -n 's/^listening on //p' "$work/portal.log" | head -n 1)
  [ -n "$base" ] && break
  kill -0 "$portal_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$base" ]; then
  echo "portal-local did not start:" >&2
  cat "$work/portal.log" >&2
  exit 1
fi
echo "portal-local on http://$base"

status=0
rm -f target/schemathesis/hooks.log
# One worker: with two, Hypothesis sometimes parses Schemathesis' sources in two threads at
# once, and CPython 3.11's ast module then fails the run with "AST constructor recursion depth
# mismatch" (a Python bug, cpython gh-106905), not a finding about the portal.
PORTAL_BASE_URL="http://$base" PORTAL_GATEWAY_KEY="$gateway_key" PORTAL_HOOKS_LOG=target/schemathesis/hooks.log \
  PYTHONPATH=scripts/schemathesis SCHEMATHESIS_HOOKS=portal_hooks \
  "$venv/bin/schemathesis" --config-file scripts/schemathesis/schemathesis.toml --no-color \
  run openapi.yaml --url "http://$base" \
  --checks all \
  --seed "${SCHEMATHESIS_SEED:-20260101}" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" \
  --workers "${SCHEMATHESIS_WORKERS:-1}" \
  --request-timeout 30 \
  --report junit --report-junit-path target/schemathesis/junit.xml || status=$?
if [ "$status" -ne 0 ]; then
  echo "schemathesis failed; the portal's log:" >&2
  tail -n 50 "$work/portal.log" >&2
fi
exit "$status"
