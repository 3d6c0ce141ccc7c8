#!/usr/bin/env bash
# Prints the Lambda function crates, one per line: the workspace crates under functions/ with a
# main.rs whose manifest depends on the Lambda runtime (lambda_http or lambda_runtime). The
# rule infra/checks/check_contract.py applies too; build-lambdas.sh builds these and
# check-lambda-deps.sh checks them, so a new function is neither left unbuilt nor unchecked.
set -euo pipefail
cd "$(dirname "$0")/.."
for manifest in functions/*/Cargo.toml; do
    dir=$(dirname "$manifest")
    [[ -f "$dir/src/main.rs" ]] || continue
    grep -Eq '^[[:space:]]*lambda_(http|runtime)[[:space:]]*[.=]' "$manifest" || continue
    sed -n 's/^name[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' "$manifest" | head -n1
done
