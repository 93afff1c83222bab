#!/usr/bin/env bash
# Generates client SDKs from the committed management API document:
#   python      -> $OUT/python      (openapi-python-client)
#   typescript  -> $OUT/typescript  (openapi-typescript types)
# Usage: openapi/generate-sdks.sh [python|typescript|all] [OUT]   (OUT defaults to openapi/sdks)
# Needs python3 (with venv) and/or node+npm; packages come from PyPI / npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
which="${1:-all}"
out="${2:-$here/sdks}"
spec="$here/openapi.json"
python_generator="openapi-python-client==0.29.1"
typescript_generator="openapi-typescript@7.13.0"

notice() {
  cat > "$1/GENERATED_NOTICE.txt" <<NOTE
GENERATED CODE - DO NOT EDIT.
Generated from openapi/openapi.json by openapi/generate-sdks.sh ($2).
Change the server's poem-openapi definitions, regenerate openapi/openapi.json
(cargo run -- openapi > openapi/openapi.json) and run the script again.
NOTE
}

gen_python() {
  local venv="${SDK_VENV:-$out/.venv-generator}"
  if [ ! -x "$venv/bin/openapi-python-client" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$python_generator" ruff
  fi
  rm -rf "$out/python"
  mkdir -p "$out"
  # The generator formats its output with ruff, which it looks for on PATH.
  PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path "$spec" --output-path "$out/python" --overwrite
  notice "$out/python" "$python_generator"
  echo "python SDK: $out/python"
}

gen_typescript() {
  rm -rf "$out/typescript"
  mkdir -p "$out/typescript"
  npx --yes "$typescript_generator" "$spec" --output "$out/typescript/schema.d.ts"
  notice "$out/typescript" "$typescript_generator"
  echo "typescript types: $out/typescript/schema.d.ts"
}

case "$which" in
  python) gen_python ;;
  typescript) gen_typescript ;;
  all) gen_python; gen_typescript ;;
  *) echo "usage: $0 [python|typescript|all] [OUT]" >&2; exit 2 ;;
esac
