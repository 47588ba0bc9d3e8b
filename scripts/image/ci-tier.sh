#!/usr/bin/env bash
# The container-image tier of .ci/run: installs buildah, umoci, skopeo and runc with apt when missing, builds the
# image twice from the same inputs (npm run image: binary, base, image) and requires the same digest and the same
# archive bytes, reads it back with skopeo, then runs test/image/image.tier.ts (inspection, and the hub and an
# agent under runc as uid 65532 with a read-only root and no capabilities, in a network namespace of its own).
# Prints the time the tier took; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
t0=$(date +%s)
fail() { echo "image tier: $*"; echo "image tier: FAILED after $(( $(date +%s) - t0 )) s"; exit 1; }

missing=()
for tool in buildah umoci skopeo runc ip; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "image tier: installing buildah umoci skopeo runc iproute2 (missing: ${missing[*]})"
  (apt-get install -y -q buildah umoci skopeo runc iproute2 >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q buildah umoci skopeo runc iproute2 >/dev/null 2>&1; }) ||
    fail "apt-get install buildah umoci skopeo runc iproute2 failed"
fi
echo "image tier: $(buildah --version), $(runc --version | head -1), $(umoci --version), $(skopeo --version)"
t_tools=$(date +%s)

version=$(sed -nE 's/^  "version": "([^"]+)",$/\1/p' package.json | head -1)
archive=dist/pipeops-agent-$version.oci.tar
second=$(mktemp -d)
trap 'rm -rf "$second"' EXIT
npm run --silent image || fail "npm run image failed"
t_first=$(date +%s)
bash scripts/image/build.sh --output "$second/again.oci.tar" || fail "the second build failed"
t_second=$(date +%s)
d1=$(skopeo inspect --format '{{.Digest}}' "oci-archive:$archive") || fail "skopeo cannot read $archive"
d2=$(skopeo inspect --format '{{.Digest}}' "oci-archive:$second/again.oci.tar") || fail "skopeo cannot read the second archive"
[ "$d1" = "$d2" ] || fail "not reproducible: digest $d1, then $d2"
cmp -s "$archive" "$second/again.oci.tar" || fail "same digest $d1 but the archives' bytes differ"
echo "image tier: reproducible: both builds give $d1 and byte-identical archives ($(stat -c %s "$archive") B)"

node_modules/.bin/bun test --timeout 180000 ./test/image/image.tier.ts || fail "test/image/image.tier.ts failed"
t_end=$(date +%s)
echo "image tier: passed in $((t_end - t0)) s (tools $((t_tools - t0)) s, first build $((t_first - t_tools)) s, rebuild $((t_second - t_first)) s, runc tests $((t_end - t_second)) s)"
