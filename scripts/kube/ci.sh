#!/usr/bin/env bash
# .ci/run's real-tier block: builds (or finds cached) etcd, kube-apiserver and kube-controller-manager and says how
# long that took. test/real/ then runs inside `npm test` against them; .ci/run exports PIPEOPS_REAL_TIER=required
# so those tests fail instead of skipping when anything is missing.
set -uo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
if ! dir=$(bash scripts/kube/build.sh); then
  echo "building the Kubernetes control plane FAILED after $(( $(date +%s) - t0 )) s"
  exit 1
fi
echo "Kubernetes control plane ready in $(( $(date +%s) - t0 )) s: $dir ($(du -sh "$dir" | cut -f1))"
