#!/usr/bin/env bash
# envtest-assets.sh: print a directory holding kube-apiserver, etcd and kubectl for
# controller-runtime's envtest (the value for KUBEBUILDER_ASSETS).
#
# 1. setup-envtest, where it can download (normal machines).
# 2. Otherwise build them from Go modules: kube-apiserver from k8s.io/kubernetes (a scratch module
#    that replaces every k8s.io staging module with its tagged version), etcd from
#    go.etcd.io/etcd/server/v3; kubectl from PATH.
# Results are cached outside the clone in $MOSAIC_CACHE/envtest/<version> (default
# ~/.cache/mosaic) and linked into ./bin/k8s/<version>, so a fresh clone rebuilds only when the
# version changes. Progress goes to stderr; the only line on stdout is the directory.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-3.6.16}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${LOCALBIN:-$ROOT/bin}"
CACHE="${MOSAIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosaic}/envtest/$K8S_VERSION"
OUT="$BIN/k8s/$K8S_VERSION-$(go env GOOS)-$(go env GOARCH)"
SETUP_ENVTEST="$BIN/setup-envtest"

log() { echo "envtest-assets: $*" >&2; }

complete() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ] && [ -x "$1/kubectl" ]; }

if complete "$OUT"; then echo "$OUT"; exit 0; fi

# 1. setup-envtest (downloads released binaries). Fails fast where there is no route out.
if [ -x "$SETUP_ENVTEST" ] && [ -z "${MOSAIC_ENVTEST_BUILD:-}" ]; then
  if dir=$(timeout 120 "$SETUP_ENVTEST" use "$K8S_VERSION" --bin-dir "$BIN" -p path 2>/dev/null) && complete "$dir"; then
    echo "$dir"; exit 0
  fi
  log "setup-envtest could not download $K8S_VERSION; building from Go modules instead"
fi

mkdir -p "$CACHE"
export GOFLAGS=-mod=mod

# 2a. kube-apiserver (and kubectl when none is on PATH) from k8s.io/kubernetes.
build_k8s_cmd() { # build_k8s_cmd NAME: builds k8s.io/kubernetes/cmd/NAME into $CACHE/NAME
  local name=$1 work="$CACHE/src-$1"
  log "building $name v$K8S_VERSION from k8s.io/kubernetes (kube-apiserver takes about 15 CPU-minutes the first time)"
  rm -rf "$work" && mkdir -p "$work"
  (
    cd "$work"
    go mod init "mosaic.local/envtest-$name" >/dev/null 2>&1
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    staging=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")
    [ -n "$staging" ] || { log "no staging modules found in $gomod"; exit 1; }
    minor=${K8S_VERSION#*.}
    for m in $staging; do go mod edit -replace "$m=$m@v0.$minor"; done
    go mod edit -require "k8s.io/kubernetes@v$K8S_VERSION"
    go get "k8s.io/kubernetes/cmd/$name@v$K8S_VERSION" >&2
    pkg=k8s.io/component-base/version
    go build -trimpath -ldflags "-s -w -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*} \
      -X $pkg.gitMinor=${minor%%.*} -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z" \
      -o "$CACHE/$name.tmp" "k8s.io/kubernetes/cmd/$name" >&2
  )
  mv "$CACHE/$name.tmp" "$CACHE/$name"
  rm -rf "$work"
}
[ -x "$CACHE/kube-apiserver" ] || build_k8s_cmd kube-apiserver

# 2b. etcd from go.etcd.io/etcd/server/v3 (built in a scratch module: its go.mod has replace directives).
if [ ! -x "$CACHE/etcd" ]; then
  log "building etcd v$ETCD_VERSION"
  work="$CACHE/src-etcd"
  rm -rf "$work" && mkdir -p "$work"
  (
    cd "$work"
    go mod init mosaic.local/envtest-etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
    go build -trimpath -ldflags "-s -w" -o "$CACHE/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
  )
  mv "$CACHE/etcd.tmp" "$CACHE/etcd"
  rm -rf "$work"
fi

# 2c. kubectl: any recent one works for envtest and the demo; the one on PATH, else build it.
if [ ! -x "$CACHE/kubectl" ]; then
  if k=$(command -v kubectl); then ln -sf "$k" "$CACHE/kubectl"; else build_k8s_cmd kubectl; fi
fi

mkdir -p "$OUT"
for b in kube-apiserver etcd kubectl; do ln -sf "$CACHE/$b" "$OUT/$b"; done
complete "$OUT" || { log "incomplete assets in $OUT"; exit 1; }
echo "$OUT"
