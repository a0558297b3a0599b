#!/usr/bin/env bash
# Re-fetches the vendored uPlot (https://github.com/leeoniya/uPlot, MIT) from the npm registry
# into this folder: its minified IIFE build, its CSS and its license. The console serves these
# files as committed (include_bytes!); nothing runs npm at build time.
#
#   fetch-uplot.sh [VERSION]     (default: the version committed here)
set -euo pipefail
VERSION="${1:-1.6.32}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack --silent "uplot@$VERSION" >/dev/null
tar xzf "uplot-$VERSION.tgz"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css "$HERE/"
cp package/LICENSE "$HERE/uPlot.LICENSE"
echo "uPlot $VERSION -> $HERE"
