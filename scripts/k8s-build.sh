#!/usr/bin/env bash
# Build a Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) and
# KWOK from the Go module proxy into a cache OUTSIDE the repo. Skips whatever is already built.
# Also etcd 3.6: Debian's etcd 3.4.23 lacks RequestWatchProgress, and client-go >= 1.35 watches
# (WatchList) then break and re-list every few seconds, delaying kwok/controllers by ~30 s.
# Usage: scripts/k8s-build.sh
#   env: LAGSCALE_CACHE, LAGSCALE_K8S_VERSION, LAGSCALE_KWOK_VERSION, LAGSCALE_ETCD_VERSION
set -euo pipefail

K8S_VERSION=${LAGSCALE_K8S_VERSION:-1.35.4}
KWOK_VERSION=${LAGSCALE_KWOK_VERSION:-v0.8.0}
ETCD_VERSION=${LAGSCALE_ETCD_VERSION:-v3.6.16}
CACHE=${LAGSCALE_CACHE:-$HOME/.cache/lagscale}
ROOT=$CACHE/k8s-$K8S_VERSION
BIN=$ROOT/bin
WORK=$ROOT/build
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

log() { printf '[k8s-build] %s\n' "$*" >&2; }

# Print one field of `go mod download -json` output; fail (with the go error on stderr) if absent.
# shellcheck disable=SC2016
JSON_FIELD='import json, sys
info = json.load(sys.stdin)
sys.exit(info["Error"]) if "Error" in info else print(info[sys.argv[1]])'


have_k8s_binaries() {
  local b
  for b in "${K8S_BINARIES[@]}"; do [[ -x $BIN/$b ]] || return 1; done
}

# Staging modules (k8s.io/api, ...) are required at v0.0.0 and replaced by ./staging paths in
# k8s.io/kubernetes' go.mod; a consumer must replace each one with its published v0.<minor>.<patch> twin.
staging_modules() {
  local gomod=$1
  sed -n 's#^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\2#p' \
    "$gomod"
}

prepare_module() {
  mkdir -p "$WORK" "$BIN"
  cd "$WORK"
  [[ -f go.mod ]] || go mod init local/k8s-bins >/dev/null 2>&1
  local gomod m
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c "$JSON_FIELD" GoMod) || {
    echo "error: k8s.io/kubernetes@v$K8S_VERSION is not served by the Go module proxy; set LAGSCALE_K8S_VERSION (e.g. 1.35.4)" >&2
    exit 1
  }
  for m in $(staging_modules "$gomod"); do
    go mod edit -replace="$m=$m@v0.${K8S_VERSION#1.}"
  done
  local pkgs=() b
  for b in "${K8S_BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b@v$K8S_VERSION"); done
  go get -tool "${pkgs[@]}"
}

version_ldflags() {
  local minor=${K8S_VERSION#1.}
  minor=${minor%%.*}
  local flags="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X '$p.gitVersion=v$K8S_VERSION' -X '$p.gitMajor=1' -X '$p.gitMinor=$minor'"
    flags+=" -X '$p.gitTreeState=clean' -X '$p.buildDate=1970-01-01T00:00:00Z'"
  done
  printf '%s' "$flags"
}

build_k8s() {
  if have_k8s_binaries; then
    log "kubernetes v$K8S_VERSION binaries present in $BIN"
    return
  fi
  log "preparing module for kubernetes v$K8S_VERSION in $WORK"
  prepare_module
  local pkgs=() b
  for b in "${K8S_BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  log "building ${K8S_BINARIES[*]} (cold: ~5 min on 2 cores)"
  cd "$WORK"
  CGO_ENABLED=0 nice go build -trimpath -ldflags "$(version_ldflags)" -o "$BIN/" "${pkgs[@]}"
}

build_kwok() {
  if [[ -x $BIN/kwok ]]; then
    log "kwok $KWOK_VERSION present in $BIN"
    return
  fi
  log "go install sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mkdir -p "$BIN"
  CGO_ENABLED=0 GOBIN=$BIN nice go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

# etcd's own go.mod replaces its sibling modules with ../ paths, so `go install` refuses it; as a
# dependency of a throwaway module those replaces are ignored and the tag's siblings are used.
build_etcd() {
  if [[ -x $BIN/etcd ]]; then
    log "etcd $ETCD_VERSION present in $BIN"
    return
  fi
  local work=$ROOT/etcd-build
  mkdir -p "$work" "$BIN"
  cd "$work"
  [[ -f go.mod ]] || go mod init local/etcd-bin >/dev/null 2>&1
  log "building etcd $ETCD_VERSION"
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  CGO_ENABLED=0 nice go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
}

main() {
  command -v go >/dev/null || { echo "error: go not found in PATH; install Go >= 1.26" >&2; exit 1; }
  build_kwok
  build_etcd
  build_k8s
  log "done: binaries in $BIN"
}

main "$@"
