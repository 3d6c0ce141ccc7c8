#!/usr/bin/env bash
# The Lambda binaries link production code only: no stand-ins (portal-dev), no test kit
# (portal-testkit), no local server (portal-local), and no rcgen (the test CA's certificate
# generator). Fails, naming the path, when any of them is reachable by a normal dependency edge
# on any target: the Lambdas are built for aarch64, not for the machine that runs this check, so
# a dependency declared for one target only must count too.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(portal-dev|portal-testkit|portal-local|rcgen) '
status=0
mapfile -t functions < <(./scripts/lambda-crates.sh)
if [ ${#functions[@]} -eq 0 ]; then
    echo "no Lambda function crates found" >&2
    exit 1
fi
for function in "${functions[@]}"; do
    tree=$(cargo tree -e normal --target all -p "$function" --prefix none)
    found=$(grep -E "$forbidden" <<<"$tree" | sort -u || true)
    if [ -n "$found" ]; then
        echo "$function links what no Lambda may link:" >&2
        echo "$found" | sed 's/^/  /' >&2
        cargo tree -e normal --target all -p "$function" -i "$(echo "$found" | head -1 | cut -d' ' -f1)" >&2 || true
        status=1
    else
        echo "$function: production crates only"
    fi
done
exit $status
