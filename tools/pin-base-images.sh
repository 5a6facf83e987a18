#!/usr/bin/env bash
# Resolves the base images of the Dockerfiles (their ARG defaults: SDK_IMAGE, ASPNET_IMAGE, CUDA_IMAGE) to the digest
# of the multi-platform index each tag points to now, and writes build/base-images.env, which `make images` passes as
# build args. Needs one of docker buildx, crane or skopeo, and access to the registries.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/base-images.env

default_of() { # the ARG default in the service Dockerfiles (one value across all of them)
  grep -h "^ARG $1=" services/*/Dockerfile | sort -u | { read -r line; echo "${line#*=}"; }
}
digest_of() {
  if command -v crane >/dev/null; then crane digest "$1"
  elif command -v docker >/dev/null && docker buildx version >/dev/null 2>&1; then
    docker buildx imagetools inspect "$1" --format '{{json .Manifest.Digest}}' | tr -d '"'
  elif command -v skopeo >/dev/null; then skopeo inspect --raw "docker://$1" | sha256sum | awk '{print "sha256:" $1}'
  else echo "needs crane, docker buildx or skopeo" >&2; exit 1
  fi
}

tmp=$(mktemp)
grep '^#' "$out" > "$tmp"
for arg in SDK_IMAGE ASPNET_IMAGE CUDA_IMAGE; do
  ref=$(default_of "$arg")
  digest=$(digest_of "$ref")
  [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "$ref: no digest ($digest)" >&2; exit 1; }
  echo "$arg=$ref@$digest" >> "$tmp"
  echo "$arg=$ref@$digest"
done
mv "$tmp" "$out"
