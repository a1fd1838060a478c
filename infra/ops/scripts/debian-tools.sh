#!/usr/bin/env bash
# Installs the Debian packages the tests use when they are missing: debian-tools.sh PACKAGE...
# (the package name is also the command it provides).
set -euo pipefail
missing=()
for package in "$@"; do
  command -v "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "debian-tools.sh: installing ${missing[*]} from Debian's packages" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
