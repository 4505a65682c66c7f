#!/usr/bin/env bash
# fuzz.sh [DURATION]: run every Go fuzz target in the module for DURATION (default 30s) each.
# Seed corpora live in each package's testdata/fuzz and also run as plain tests under `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-30s}
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "== $pkg $target ($time)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$pkg"
  done
done
