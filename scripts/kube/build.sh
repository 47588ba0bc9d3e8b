#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from the Go module proxy and caches the binaries
# outside the repository, keyed by version (../shared/spec/real-kubernetes.md). Reuses them when present.
# Usage: scripts/kube/build.sh            prints the cache directory holding the binaries on its last line
# Env:   PIPEOPS_TOOLS_DIR (default ~/.cache/pipeops-tools), KUBE_VERSION, ETCD_VERSION
set -euo pipefail
KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
TOOLS_DIR="${PIPEOPS_TOOLS_DIR:-$HOME/.cache/pipeops-tools}"
OUT="$TOOLS_DIR/kube/$KUBE_VERSION"
BINS=(kube-apiserver kube-controller-manager etcd)

# The marker names the recipe too: a changed recipe (flags, version stamps) rebuilds; only relinking is cheap.
STAMP="$KUBE_VERSION $ETCD_VERSION recipe-2"
have_all() { for b in "${BINS[@]}"; do [ -x "$OUT/$b" ] || return 1; done; [ "$(cat "$OUT/.complete" 2>/dev/null)" = "$STAMP" ]; }
if have_all; then
  echo "kube control plane $KUBE_VERSION (etcd $ETCD_VERSION) cached at $OUT" >&2
  echo "$OUT"; exit 0
fi
command -v go >/dev/null || { echo "go is not installed: the control plane is built from the Go module proxy" >&2; exit 1; }

mkdir -p "$OUT"
work="$TOOLS_DIR/kube/build-$KUBE_VERSION"
mkdir -p "$work"
t0=$(date +%s)
say() { printf '[kube build %4ds] %s\n' "$(( $(date +%s) - t0 ))" "$*" >&2; }
# One build at a time (CI, a test and `demo --real` may all ask): a second caller waits, then finds the cache.
if command -v flock >/dev/null; then
  exec 9>"$TOOLS_DIR/kube/.build-$KUBE_VERSION.lock"
  if ! flock -n 9; then
    say "another build of $KUBE_VERSION is running; waiting for it"
    flock 9
  fi
  if have_all; then say "built by the other run"; echo "$OUT"; exit 0; fi
fi
say "building kube-apiserver, kube-controller-manager $KUBE_VERSION and etcd $ETCD_VERSION from the Go module proxy"
say "this usually takes 10-12 minutes on two cores and 2.5 GB of memory; the binaries are cached in $OUT"

cd "$work"
cat > main_etcd.go.txt <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
mkdir -p etcd && cp main_etcd.go.txt etcd/main.go
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap
  code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
  kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver cri-streaming streaming)
{
  echo "module pipeops.local/kubebuild"
  echo
  echo "go 1.26.0"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $KUBE_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  echo ")"
  echo
  echo "replace ("
  for m in "${staging[@]}"; do echo "	k8s.io/$m => k8s.io/$m $STAGING_VERSION"; done
  echo ")"
} > go.mod
say "resolving modules (go mod tidy, ~30 s with an empty module cache)"
GOFLAGS=-mod=mod go mod tidy >&2 2>"$work/tidy.log" || { cat "$work/tidy.log" >&2; exit 1; }
# Without these stamps the binaries report gitVersion v0.0.0-master (what `kubectl version` would show).
minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
VERSION_LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  VERSION_LDFLAGS+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
build() {
  local name=$1 pkg=$2 log="$work/$1.log" pid
  say "compiling $name (go build $pkg)"
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -v -trimpath -ldflags "-s -w $VERSION_LDFLAGS" -o "$OUT/$name.tmp" "$pkg" 2>"$log" &
  pid=$!
  # go build -v names each package it compiles: a heartbeat every 30 s says the build is alive and how far it got.
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && say "still compiling $name: $(wc -l <"$log") packages so far"
  done
  if ! wait "$pid"; then tail -30 "$log" >&2; say "$name FAILED (full log: $log)"; exit 1; fi
  mv "$OUT/$name.tmp" "$OUT/$name"
  say "$name done ($(du -h "$OUT/$name" | cut -f1))"
}
build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
echo "$STAMP" > "$OUT/.complete"
say "all built"
echo "$OUT"
