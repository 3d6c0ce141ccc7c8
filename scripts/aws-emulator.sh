#!/usr/bin/env bash
# Sourced by scripts/test.sh: installs moto's server into .venv (once per pinned version),
# starts it on a free loopback port and exports where it is. Stopped by the caller's trap.
# shellcheck shell=bash

aws_emulator_start() {
  local requirements=scripts/requirements-emulator.txt
  local stamp=.venv/.emulator-requirements
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "installing python3 and venv support"
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  if [ ! -x .venv/bin/moto_server ] || ! cmp -s "$requirements" "$stamp"; then
    echo "installing the AWS emulator into .venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
  fi
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p target
  # moto's server, serving one request at a time (see the script: its DynamoDB is not
  # thread-safe under concurrent transactions).
  .venv/bin/python scripts/moto_serial_server.py -H 127.0.0.1 -p "$port" >target/aws-emulator.log 2>&1 &
  AWS_EMULATOR_PID=$!
  local endpoint="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
      "$endpoint/moto-api/data.json" >/dev/null 2>&1; then
      export PORTAL_TEST_AWS_ENDPOINT="$endpoint"
      export PORTAL_REQUIRE_AWS_EMULATOR=1
      echo "AWS emulator (moto) on $endpoint"
      return 0
    fi
    if ! kill -0 "$AWS_EMULATOR_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "the AWS emulator did not start; its log:" >&2
  cat target/aws-emulator.log >&2
  return 1
}

aws_emulator_stop() {
  if [ -n "${AWS_EMULATOR_PID:-}" ]; then
    kill "$AWS_EMULATOR_PID" 2>/dev/null || true
    wait "$AWS_EMULATOR_PID" 2>/dev/null || true
    AWS_EMULATOR_PID=
  fi
}
