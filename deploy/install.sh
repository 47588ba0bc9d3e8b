#!/usr/bin/env bash
# Installs (or upgrades) the PipeOps agent into the cluster of the current kubectl context.
#   PIPEOPS_TOKEN=… PIPEOPS_CLUSTER_NAME=… [PIPEOPS_API_URL=https://api.pipeops.io] ./install.sh
# With helm on PATH: `helm upgrade --install` of the chart; otherwise `kubectl apply -f` of the plain manifest
# (deploy/agent.yaml) with the token, cluster name and API URL filled in. Both are idempotent: run it again to
# change the token or upgrade.
# Optional: PIPEOPS_NAMESPACE (default pipeops-system; helm only, the manifest is fixed to pipeops-system),
#           PIPEOPS_INSTALL_METHOD=helm|kubectl (default: helm when available),
#           PIPEOPS_CHART (default: the chart beside this script), PIPEOPS_MANIFEST (file or URL of agent.yaml).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
namespace="${PIPEOPS_NAMESPACE:-pipeops-system}"
api_url="${PIPEOPS_API_URL:-https://api.pipeops.io}"
chart="${PIPEOPS_CHART:-$here/helm/pipeops-agent}"
manifest="${PIPEOPS_MANIFEST:-$here/agent.yaml}"

die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

missing=()
[ -n "${PIPEOPS_TOKEN:-}" ] || missing+=(PIPEOPS_TOKEN)
[ -n "${PIPEOPS_CLUSTER_NAME:-}" ] || missing+=(PIPEOPS_CLUSTER_NAME)
if [ "${#missing[@]}" -gt 0 ]; then
  die "missing required environment variable(s): ${missing[*]}
  example: PIPEOPS_TOKEN=<agent token> PIPEOPS_CLUSTER_NAME=<name> [PIPEOPS_API_URL=<url>] $0"
fi
token="$PIPEOPS_TOKEN"
cluster_name="$PIPEOPS_CLUSTER_NAME"

# Values are put into YAML and sed expressions: accept only characters that need no quoting in either.
[[ "$token" =~ ^[A-Za-z0-9._~+/=:-]+$ ]] || die "PIPEOPS_TOKEN contains characters other than letters, digits and ._~+/=:-"
[[ "$cluster_name" =~ ^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$ ]] || die "PIPEOPS_CLUSTER_NAME must be letters, digits, '.', '_' or '-' (got '$cluster_name')"
[[ "$api_url" =~ ^(https?|wss?)://[A-Za-z0-9.:/_~%-]+$ ]] || die "PIPEOPS_API_URL must be an http(s) or ws(s) URL (got '$api_url')"
[[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "PIPEOPS_NAMESPACE is not a valid namespace name (got '$namespace')"

command -v kubectl >/dev/null 2>&1 || die "kubectl is required (it talks to the cluster of the current context)"

method="${PIPEOPS_INSTALL_METHOD:-}"
if [ -z "$method" ]; then
  if command -v helm >/dev/null 2>&1 && [ -d "$chart" ]; then method=helm; else method=kubectl; fi
fi

case "$method" in
  helm)
    command -v helm >/dev/null 2>&1 || die "PIPEOPS_INSTALL_METHOD=helm but helm is not on PATH"
    [ -d "$chart" ] || die "chart not found at $chart (set PIPEOPS_CHART)"
    echo "install.sh: helm upgrade --install pipeops-agent in namespace $namespace (cluster $cluster_name, control plane $api_url)"
    # The token goes through a values file readable only by us, not the command line (visible in ps).
    values="$(mktemp)"
    trap 'rm -f "$values"' EXIT
    chmod 600 "$values"
    printf 'token: "%s"\nconfig:\n  agent:\n    cluster_name: "%s"\n  pipeops:\n    api_url: "%s"\n' "$token" "$cluster_name" "$api_url" >"$values"
    helm upgrade --install pipeops-agent "$chart" --namespace "$namespace" --create-namespace --values "$values" --wait=false
    ;;
  kubectl)
    [ "$namespace" = pipeops-system ] || die "the plain manifest installs into pipeops-system; use helm for namespace $namespace"
    if [[ "$manifest" =~ ^https?:// ]]; then
      command -v curl >/dev/null 2>&1 || die "curl is required to fetch $manifest"
      text="$(curl -fsSL "$manifest")" || die "cannot fetch $manifest"
    else
      [ -f "$manifest" ] || die "manifest not found at $manifest (set PIPEOPS_MANIFEST)"
      text="$(cat "$manifest")"
    fi
    echo "install.sh: kubectl apply of $(basename "$manifest") (cluster $cluster_name, control plane $api_url)"
    printf '%s\n' "$text" |
      sed -e "s|\"__PIPEOPS_TOKEN__\"|\"$token\"|" \
        -e "s|: __PIPEOPS_CLUSTER_NAME__\$|: \"$cluster_name\"|" \
        -e "s|: __PIPEOPS_API_URL__\$|: \"$api_url\"|" |
      kubectl apply -f -
    ;;
  *)
    die "PIPEOPS_INSTALL_METHOD must be helm or kubectl (got '$method')"
    ;;
esac

echo "install.sh: done. Watch it register: kubectl -n $namespace rollout status deployment/pipeops-agent"
