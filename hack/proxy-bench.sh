#!/usr/bin/env bash
# proxy-bench.sh [bench flags...]
#
# Builds mosaic-proxy and the load harness (test/bench), then measures the fake upstream directly,
# a bare httputil.ReverseProxy and mosaic-proxy with every policy on, interleaved, and prints a
# markdown table (about 2-3 minutes with the defaults). Flags go to the harness; see
# `go run ./test/bench -h`, e.g. -rounds 2, -duration 10s, -targets direct,minproxy.
# Everything runs on 127.0.0.1. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR=$(mktemp -d)
trap 'rm -rf "$BIN_DIR"' EXIT
go build -o "$BIN_DIR/mosaic-proxy" ./cmd/mosaic-proxy
go build -o "$BIN_DIR/bench" ./test/bench
"$BIN_DIR/bench" -proxy-bin "$BIN_DIR/mosaic-proxy" "$@"
