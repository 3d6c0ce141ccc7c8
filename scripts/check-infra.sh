#!/usr/bin/env bash
# Static checks of infra/ (no cloud access, no provider download):
#   1. terraform fmt -check            (skipped with a message where terraform is not installed)
#   2. checkov, framework terraform    zero failed checks; every skip is inline with its reason
#   3. the contract check              routes vs openapi.yaml, env vars and IAM actions vs code
#   4. the contract checker's own tests (mutated copies of infra/ must fail with the right finding)
#
# Tools are pinned (scripts/requirements/*.txt) and installed into venvs this script creates
# under .tools/ and reuses while their requirements file is unchanged, so a second run takes
# seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
step() { printf '\n==> %s\n' "$*"; }

# venv NAME REQUIREMENTS: creates or reuses .tools/NAME, prints its path.
venv() {
    local dir=".tools/$1" req="$2" want
    want=$(sha256sum "$req" | cut -d' ' -f1)
    if [[ ! -x "$dir/bin/python" || "$(cat "$dir/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
        echo "creating $dir from $req" >&2
        rm -rf "$dir"
        "$PYTHON" -m venv "$dir"
        "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
        echo "$want" >"$dir/.requirements.sha256"
    fi
    echo "$dir"
}

step "terraform fmt -check -recursive infra"
if command -v terraform >/dev/null 2>&1; then
    # An empty CLI config: no warnings about a missing ~/.terraformrc, no plugin cache lookups.
    TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive -diff infra
    echo "formatted"
else
    echo "terraform not installed: formatting not checked (install Terraform >= 1.5 to check it)"
fi

step "checkov (terraform)"
checkov_venv=$(venv checkov-venv scripts/requirements/checkov.txt)
# --skip-download: no policy or guideline downloads (offline, deterministic);
# BC_API_KEY unset: nothing is sent anywhere.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
set +e
env -u BC_API_KEY "$checkov_venv/bin/checkov" --directory infra --framework terraform \
    --skip-download --quiet --compact --output cli >"$report" 2>&1
checkov_rc=$?
set -e
cat "$report"
if [[ $checkov_rc -ne 0 ]]; then
    echo "checkov found failed checks (fix them, or skip inline with #checkov:skip=ID:reason)" >&2
    exit 1
fi
grep -q "Failed checks: 0," "$report" || { echo "checkov summary missing or not zero failures" >&2; exit 1; }
# Every skip must say why.
if grep -rnE '#checkov:skip=[A-Z0-9_]+(:[[:space:]]*)?$' infra --include='*.tf'; then
    echo "checkov skips above have no reason" >&2
    exit 1
fi

contract_venv=$(venv contract-check-venv scripts/requirements/contract-check.txt)

# The checker's tests run even when the contract check fails: a failing check is only
# trustworthy if the checker itself is.
step "contract check (infra/checks/check_contract.py)"
contract_rc=0
"$contract_venv/bin/python" infra/checks/check_contract.py || contract_rc=$?

step "contract checker tests (infra/checks/test_check_contract.py)"
"$contract_venv/bin/python" -m unittest discover -s infra/checks -p 'test_*.py'

step "CloudFront viewer-request function (infra/checks/origin_function.test.mjs, Node)"
node --test infra/checks/origin_function.test.mjs

exit "$contract_rc"
