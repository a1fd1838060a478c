#!/usr/bin/env bash
# Prints the path of Prometheus' own `promtool`, the independent check of /metrics in the tests.
# It comes from Debian's `prometheus` package without installing it (no service, no user, no
# data directory): the .deb is downloaded once and only the binary extracted, into
# ~/.cache/rapport/promtool-VERSION/.
set -euo pipefail
cache="${RAPPORT_CACHE:-$HOME/.cache/rapport}"
found=$(ls "$cache"/promtool-*/promtool 2>/dev/null | head -1 || true)
if [ -n "$found" ] && [ -x "$found" ]; then
  echo "$found"
  exit 0
fi
version=$(apt-cache show prometheus 2>/dev/null | sed -n 's/^Version: //p' | head -1 || true)
if [ -z "$version" ]; then
  apt-get update -qq >&2
  version=$(apt-cache show prometheus | sed -n 's/^Version: //p' | head -1)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "promtool.sh: fetching promtool from Debian's prometheus $version" >&2
(cd "$work" && apt-get download -qq "prometheus=$version" 2>/dev/null)
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
target="$cache/promtool-${version//[^A-Za-z0-9.+-]/_}"
mkdir -p "$target"
install -m 0755 "$work/root/usr/bin/promtool" "$target/promtool"
echo "$target/promtool"
