#!/usr/bin/env bash
# The plugin author's path, end to end: install Patchbay to a prefix, build the example plugin in
# docs/examples/hello out of tree with find_package(Patchbay), validate its manifest and invoke it.
# Usage: tests/plugin_kit.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/docs/examples/hello" -B "$work/hello" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release ${PATCHBAY_EXAMPLE_CMAKE_ARGS:-} >/dev/null
cmake --build "$work/hello" >/dev/null

patchbay="$work/prefix/bin/patchbay"
"$patchbay" manifest validate "$work/hello/manifests/hello/manifest.yaml"
exports=$(nm -D --defined-only "$work/hello/manifests/hello/libhello.so" | awk '{print $3}')
[[ "$exports" == "patchbay_plugin_entry_v1" ]] || { echo "unexpected exports: $exports" >&2; exit 1; }

out=$("$patchbay" invoke hello greet --manifests "$work/hello/manifests" --input '{"name": "Ada"}')
[[ "$out" == '{"message":"Hello, Ada!"}' ]] || { echo "unexpected output: $out" >&2; exit 1; }
if "$patchbay" invoke hello greet --manifests "$work/hello/manifests" --input '{}' 2>"$work/err"; then
  echo "invalid input was accepted" >&2; exit 1
fi
grep -q "INVALID_INPUT" "$work/err" || { cat "$work/err" >&2; exit 1; }
if "$patchbay" invoke hello greet --manifests "$work/hello/manifests" --input '{"name": "nobody"}' 2>"$work/err"; then
  echo "the plugin's error was not reported" >&2; exit 1
fi
grep -q "NOT_FOUND: there is nobody to greet" "$work/err" || { cat "$work/err" >&2; exit 1; }
echo "plugin kit: out-of-tree plugin built, validated and invoked"
