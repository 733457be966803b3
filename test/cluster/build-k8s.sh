#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager of one pinned Kubernetes release from the Go
# module proxy and caches them in ~/.cache/updog-ts/k8s-<version>/. A cached build is reused.
#
# k8s.io/kubernetes is not meant to be consumed as a module: its go.mod points every k8s.io/*
# staging module at ./staging/src/..., and `replace` is ignored in dependencies. We therefore
# generate a tiny module that requires k8s.io/kubernetes and replaces each staging module with its
# published v0.Y.Z of the same release.
#
# Usage: build-k8s.sh            builds (or reuses) and prints the binary directory on stdout
# Env:   K8S_VERSION (default below), UPDOG_TS_CACHE (default ~/.cache/updog-ts)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.34.4}"
CACHE_ROOT="${UPDOG_TS_CACHE:-$HOME/.cache/updog-ts}"
BIN_DIR="$CACHE_ROOT/k8s-$K8S_VERSION"
COMMANDS=(kube-apiserver kube-controller-manager)

log() { echo "build-k8s: $*" >&2; }

have_all() {
  for cmd in "${COMMANDS[@]}"; do [ -x "$BIN_DIR/$cmd" ] || return 1; done
}

if have_all; then
  log "reusing cached Kubernetes v$K8S_VERSION binaries in $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi

if ! command -v go >/dev/null; then
  log "error: the Go toolchain (go) is not on PATH; install Go >= 1.24 (https://go.dev/dl/ or apt-get install golang-go) and re-run"
  exit 1
fi

# One build at a time per version (CI step and a test run may race); the winner fills the cache.
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/k8s-$K8S_VERSION.lock"
flock 9
if have_all; then
  log "reusing Kubernetes v$K8S_VERSION binaries another build just made in $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi

minor="${K8S_VERSION#*.}"           # 34.4
staging_version="v0.${minor}"      # v0.34.4
work="$(mktemp -d "${TMPDIR:-/tmp}/build-k8s.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

log "resolving k8s.io/kubernetes v$K8S_VERSION through $(go env GOPROXY)"
upstream_mod="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
[ -f "$upstream_mod" ] || { log "error: could not download k8s.io/kubernetes v$K8S_VERSION"; exit 1; }

# Every "k8s.io/x => ./staging/src/k8s.io/x" replace line names one staging module.
mapfile -t staging < <(sed -n 's#^\s*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/.*#\1#p' "$upstream_mod")
[ "${#staging[@]}" -gt 0 ] || { log "error: found no staging replace directives in $upstream_mod"; exit 1; }
log "rewriting ${#staging[@]} staging modules to $staging_version"

{
  echo "module updog-ts/k8s-build"
  echo
  sed -n 's/^go \(.*\)/go \1/p' "$upstream_mod" | head -n1
  echo
  echo "require k8s.io/kubernetes v$K8S_VERSION"
  echo
  for m in "${staging[@]}"; do echo "replace $m => $m $staging_version"; done
} >"$work/go.mod"
cat >"$work/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
EOF

cd "$work"
export GOFLAGS=-mod=mod
log "resolving the module graph (go mod tidy; downloads on a cold module cache)"
# -e: unresolvable test-only imports of dependencies must not stop the build; go build reports
# anything the two commands really need.
go mod tidy -e >&2

mkdir -p "$BIN_DIR.partial"
# -p 2: the CI machines have two cores. GOGC=200 trades memory (plentiful) for less GC time.
for cmd in "${COMMANDS[@]}"; do
  log "compiling $cmd (several minutes on a cold cache)"
  GOGC=200 CGO_ENABLED=0 go build -p 2 -trimpath -ldflags="-s -w" \
    -o "$BIN_DIR.partial/$cmd" "k8s.io/kubernetes/cmd/$cmd"
  log "built $cmd after $(( $(date +%s) - start ))s"
done
"$BIN_DIR.partial/kube-apiserver" --version >&2
rm -rf "$BIN_DIR"
mv "$BIN_DIR.partial" "$BIN_DIR"
log "done in $(( $(date +%s) - start ))s: $BIN_DIR"
echo "$BIN_DIR"
