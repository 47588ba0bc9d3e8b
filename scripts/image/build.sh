#!/usr/bin/env bash
# `npm run image`: the container image without a Docker engine. Builds the binary (dist/pipeops-agent), assembles
# the Containerfile's runtime base (gcr.io/distroless/cc-debian12:nonroot) from the pinned Debian packages in
# base-packages.lock, builds the Containerfile's runtime stage with buildah (the binary comes in through
# `--build-context build=…` in place of the build stage, which buildah then skips), and writes an OCI archive to
# dist/pipeops-agent-<version>.oci.tar. All timestamps are SOURCE_DATE_EPOCH (default: the last commit's time), so
# the same inputs give the same image digest.
#
#   scripts/image/build.sh [--no-build] [--output FILE] [--update-pins]
#     --no-build      use dist/pipeops-agent as it is (default: rebuild it with the build date fixed)
#     --output FILE   where the OCI archive goes
#     --update-pins   rewrite base-packages.lock with the apt mirror's current versions, then exit
# Needs (Debian): apt-get install -y buildah umoci skopeo runc. Runs as root (buildah's storage).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LOCK=scripts/image/base-packages.lock
IMAGE_NAME=${PIPEOPS_IMAGE_NAME:-ghcr.io/pipeopshq/pipeops-agent}
VERSION=$(sed -nE 's/^  "version": "([^"]+)",$/\1/p' package.json | head -1)
# The runtime stage's base, as the Containerfile names it: the image this script assembles must carry that name.
BASE_REF=$(awk 'toupper($1) == "FROM" { ref = $2 } END { print ref }' Containerfile)
OUTPUT=dist/pipeops-agent-$VERSION.oci.tar
BUILD_BINARY=1
DEB_CACHE=${PIPEOPS_TOOLS_CACHE:-$HOME/.cache/pipeops-tools}/debs

die() { echo "image: $*" >&2; exit 1; }

update_pins() {
  local tmp
  tmp=$(mktemp)
  grep '^#' "$LOCK" > "$tmp"
  grep -v '^#' "$LOCK" | while read -r name _ _; do
    local v sha
    v=$(apt-cache policy "$name" | awk '/Candidate:/ { print $2 }')
    sha=$(apt-cache show "$name=$v" | awk '/^SHA256:/ { print $2; exit }')
    if [ -z "$v" ] || [ -z "$sha" ]; then die "apt knows no candidate for $name (run apt-get update)"; fi
    echo "$name $v $sha"
  done >> "$tmp"
  mv "$tmp" "$LOCK"
  echo "image: pins updated in $LOCK"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD_BINARY=0 ;;
    --output) OUTPUT=$2; shift ;;
    --update-pins) update_pins; exit 0 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
  shift
done

for tool in buildah dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || die "$tool not found: apt-get install -y buildah umoci skopeo runc"
done
[ -n "$VERSION" ] || die "no version in package.json"
[[ "$BASE_REF" == gcr.io/distroless/cc-debian12:* ]] || die "the Containerfile's runtime base is $BASE_REF; this script assembles only gcr.io/distroless/cc-debian12"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pipeops-image.XXXXXX")
B=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)
cleanup() {
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- 1. the binary, with its build date fixed ----
if [ "$BUILD_BINARY" = 1 ]; then
  PIPEOPS_BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ) node_modules/.bin/bun run scripts/build.ts --no-measure
fi
[ -x dist/pipeops-agent ] || die "dist/pipeops-agent is missing (npm run build)"

# ---- 2. the pinned Debian packages, downloaded once into the cache and checked against the lock ----
mkdir -p "$DEB_CACHE" "$WORK/download"
debs=()
while read -r name version sha; do
  deb="$DEB_CACHE/${name}_${version//:/%3a}.deb"
  if [ ! -f "$deb" ] || [ "$(sha256sum < "$deb" | cut -d' ' -f1)" != "$sha" ]; then
    rm -f "$WORK"/download/*.deb
    # A fresh machine may have no package lists yet: one apt-get update, then the same download again.
    (cd "$WORK/download" && { apt-get download -q "$name=$version" >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get download -q "$name=$version" >/dev/null 2>&1; }; }) ||
      die "pinned $name=$version is not on the apt mirror (Debian keeps only the newest point release; try apt-get update): run $0 --update-pins and commit $LOCK"
    mv "$WORK"/download/*.deb "$deb"
  fi
  [ "$(sha256sum < "$deb" | cut -d' ' -f1)" = "$sha" ] || die "$deb does not match its pinned sha256 $sha"
  debs+=("$name=$deb")
done < <(grep -v '^#' "$LOCK")

# ---- 3. the distroless-equivalent root filesystem (no maintainer scripts run: nothing executes here) ----
R=$WORK/rootfs
mkdir -p "$R/var/lib/dpkg/status.d"
for entry in "${debs[@]}"; do
  name=${entry%%=*} deb=${entry#*=}
  if [ "$name" = base-files ]; then
    # Only os-release (scanners read it) and the copyright, not base-files' shell profiles and directory tree.
    dpkg-deb -x "$deb" "$WORK/base-files"
    install -D -m 0644 "$WORK/base-files/usr/lib/os-release" "$R/usr/lib/os-release"
    mkdir -p "$R/etc" && ln -s ../usr/lib/os-release "$R/etc/os-release"
    install -D -m 0644 "$WORK/base-files/usr/share/doc/base-files/copyright" "$R/usr/share/doc/base-files/copyright"
  else
    dpkg-deb -x "$deb" "$R"
  fi
  # What distroless records so that image scanners see the package versions.
  dpkg-deb -f "$deb" > "$R/var/lib/dpkg/status.d/$name"
done
# Keep the licences, drop everything else that only serves an installed system.
find "$R/usr/share/doc" -type f ! -name copyright -delete
find "$R/usr/share/doc" -depth -type d -empty -delete
rm -rf "$R/usr/share/man" "$R/usr/share/info" "$R/usr/share/lintian" "$R/usr/sbin" "$R/etc/ca-certificates"
# update-ca-certificates' bundle, built the way it builds it (sorted certificate files, each ending in a newline).
mkdir -p "$R/etc/ssl/certs"
(cd "$R/usr/share/ca-certificates" && find . -name '*.crt' | LC_ALL=C sort | while read -r c; do cat "$c"; [ -z "$(tail -c 1 "$c")" ] || echo; done) > "$R/etc/ssl/certs/ca-certificates.crt"
cat > "$R/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat > "$R/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
staff:x:50:
nobody:x:65534:
nonroot:x:65532:
GROUP
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' > "$R/etc/nsswitch.conf"
chmod 0644 "$R/etc/passwd" "$R/etc/group" "$R/etc/nsswitch.conf" "$R/etc/ssl/certs/ca-certificates.crt"
install -d -m 1777 "$R/tmp"
install -d -m 0700 "$R/root"
install -d -m 0700 -o 65532 -g 65532 "$R/home/nonroot"
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
tar --sort=name --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$R" -cf "$WORK/base.tar" .

# ---- 4. the base image, under the name the Containerfile uses ----
ctr=$("${B[@]}" from --quiet scratch)
"${B[@]}" add --quiet "$ctr" "$WORK/base.tar" /
"${B[@]}" config --user 65532 --workingdir /home/nonroot --created-by "scripts/image/build.sh: base-packages.lock, no maintainer scripts" \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$ctr"
"${B[@]}" commit --quiet --timestamp "$SOURCE_DATE_EPOCH" --identity-label=false "$ctr" "$BASE_REF" >/dev/null

# ---- 5. the Containerfile's runtime stage; the binary is its own build context (.dockerignore excludes dist/) ----
mkdir -p "$WORK/binary/src/dist" "$WORK/context"
cp dist/pipeops-agent "$WORK/binary/src/dist/pipeops-agent"
"${B[@]}" build --quiet --runtime runc --timestamp "$SOURCE_DATE_EPOCH" --identity-label=false \
  --build-context build="$WORK/binary" --build-arg VERSION="$VERSION" \
  -f "$ROOT/Containerfile" -t "$IMAGE_NAME:$VERSION" "$WORK/context" >/dev/null

# ---- 6. the OCI archive: an OCI layout, tarred with fixed metadata so that the archive's bytes repeat too ----
"${B[@]}" push --quiet "$IMAGE_NAME:$VERSION" "oci:$WORK/layout:$IMAGE_NAME:$VERSION"
mkdir -p "$(dirname "$OUTPUT")"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime="@$SOURCE_DATE_EPOCH" --mode=a+rX,u+w,go-w \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$WORK/layout" -cf "$OUTPUT.tmp" .
mv "$OUTPUT.tmp" "$OUTPUT"
digest=$(sed -nE 's/.*"digest":"(sha256:[0-9a-f]{64})".*/\1/p' "$WORK/layout/index.json")
size=$(stat -c %s "$OUTPUT")
echo "image: $IMAGE_NAME:$VERSION → $OUTPUT ($((size / 1024 / 1024)) MiB), manifest digest $digest, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
