#!/usr/bin/env bash
# install-helm.sh: provide the pinned helm binary as ./bin/helm (used by test/deploy to render the
# chart). Built from its Go module (about 10 CPU-minutes the first time) and cached outside the clone
# in $MOSAIC_CACHE/helm-<version> (default ~/.cache/mosaic), so a fresh clone only links it.
# Progress goes to stderr; the only line on stdout is the path of the binary.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${LOCALBIN:-$ROOT/bin}"
CACHE="${MOSAIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosaic}"
CACHED="$CACHE/helm-$HELM_VERSION"

log() { echo "install-helm: $*" >&2; }

if [ ! -x "$CACHED" ]; then
  log "building helm $HELM_VERSION from helm.sh/helm/v3 (about 10 CPU-minutes the first time)"
  mkdir -p "$CACHE"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # Helm's Makefile sets the Kubernetes version `helm template` assumes (.Capabilities.KubeVersion,
  # checked against Chart.yaml's kubeVersion) from its client-go, v0.<minor>.x -> 1.<minor>;
  # without it the default is 1.20.
  gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  minor=$(sed -n 's#^\s*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$gomod")
  [ -n "$minor" ] || { log "no k8s.io/client-go version in $gomod"; exit 1; }
  GOFLAGS=-mod=mod GOBIN="$work" go install -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  mv "$work/helm" "$CACHED.tmp"
  mv "$CACHED.tmp" "$CACHED"
fi

mkdir -p "$BIN"
ln -sf "$CACHED" "$BIN/helm-$HELM_VERSION"
ln -sf "$BIN/helm-$HELM_VERSION" "$BIN/helm"
echo "$BIN/helm"
