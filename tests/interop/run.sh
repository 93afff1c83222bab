#!/usr/bin/env bash
# Runs the interoperability and hostile-input suites against ONE fresh `tessera serve`
# (SQLite in a temporary data dir, mails as .eml files there):
#   openid-client (Node), Authlib (Python), resource servers on oauth4webapi (Node) and
#   PyJWT (Python), headless Chromium via playwright-core, schemathesis against the
#   management API document;
# and the passkey suite (Chromium with a virtual WebAuthn authenticator) against a
# second one whose public URL is http://localhost:PORT+1: WebAuthn needs a host name as
# relying-party id (an IP-address public URL offers no passkeys) and a secure context
# (localhost is one).
# Installs what they need first (Debian chromium if missing, `npm ci`, a pip venv);
# downloads are cached under $HOME/.cache. Each suite prints its own
# "NAME: N passed, M failed" line; the summary is printed at the end and, with
# INTEROP_SUMMARY=FILE, also written there. Exits non-zero if any suite failed.
#
# Usage: tests/interop/run.sh [TESSERA_BINARY]   (default $CARGO_TARGET_DIR/debug/tessera)
# Environment: INTEROP_PORT (18120; the passkey server takes the next port),
# ST_MAX_EXAMPLES (schemathesis examples per operation).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/tessera-target}/debug/tessera}"
port="${INTEROP_PORT:-18120}"
base="http://127.0.0.1:$port"
passkey_port=$((port + 1))
passkey_base="http://localhost:$passkey_port"
token="interop-admin-$RANDOM$RANDOM$RANDOM"
work="$(mktemp -d)"
server_pid=""
passkey_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$passkey_pid" ]; then kill "$passkey_pid" 2>/dev/null || true; wait "$passkey_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
stage() { printf '\n=== interop: %s (%ss)\n' "$*" "$SECONDS"; }

stage "install clients"
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null | head -1
npm ci --prefix "$here" --cache "$HOME/.cache/npm" --prefer-offline --no-audit --no-fund --loglevel=error
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --cache-dir "$HOME/.cache/pip" -r "$here/requirements.txt"
"$work/venv/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -iE '^(authlib|pyjwt|cryptography|schemathesis) '
node -e "for (const p of ['openid-client','oauth4webapi','playwright-core']) console.log(p, require('$here/node_modules/'+p+'/package.json').version)"

stage "server"
TESSERA_LISTEN="127.0.0.1:$port" TESSERA_PUBLIC_URL="$base" TESSERA_DATA_DIR="$work/data" \
TESSERA_ADMIN_TOKEN="$token" TESSERA_LOG=warn TESSERA_SHUTDOWN_GRACE_SECS=2 \
  "$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 60); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "$base/readyz" || { cat "$work/server.log"; exit 1; }
echo
TESSERA_LISTEN="127.0.0.1:$passkey_port" TESSERA_PUBLIC_URL="$passkey_base" TESSERA_DATA_DIR="$work/passkey-data" \
TESSERA_ADMIN_TOKEN="$token" TESSERA_LOG=warn TESSERA_SHUTDOWN_GRACE_SECS=2 \
  "$bin" serve >"$work/passkey-server.log" 2>&1 &
passkey_pid=$!
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$passkey_port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "http://127.0.0.1:$passkey_port/readyz" || { cat "$work/passkey-server.log"; exit 1; }
echo

summary=()
failed=0
# run NAME COMMAND...: runs one suite, keeps its closing "NAME: N passed, M failed" line.
run() {
  local name="$1"; shift
  stage "$name"
  local start=$SECONDS rc=0
  "$@" 2>&1 | tee "$work/$name.out" || rc=$?
  local line
  line="$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$work/$name.out" | tail -1 | sed -E 's/ \([0-9.]+s\)$//')"
  [ -n "$line" ] || line="$name: 0 passed, 1 failed"
  if [ "$rc" -ne 0 ] && grep -qE ' 0 failed' <<<"$line"; then line="$name: 0 passed, 1 failed"; fi
  [ "$rc" -eq 0 ] || failed=1
  summary+=("$line   [$((SECONDS - start))s]")
}

run openid-client node "$here/node/openid-client.mjs" "$base" "$token"
run authlib "$work/venv/bin/python" "$here/python/authlib_client.py" "$base" "$token"
run resource-server node "$here/node/resource-server.mjs" "$base" "$token"
run pyjwt "$work/venv/bin/python" "$here/python/pyjwt_resource_server.py" "$base" "$token"
run browser node "$here/browser/person.mjs" "$base" "$token" "$work/data/mail" "${INTEROP_SCREENSHOTS:-}"
run passkeys node "$here/browser/passkeys.mjs" "$passkey_base" "$token" "${INTEROP_SCREENSHOTS:+$INTEROP_SCREENSHOTS/passkeys}"
run schemathesis env PATH="$work/venv/bin:$PATH" "$here/schemathesis/run.sh" "$base" "$token"

if grep -qE 'panicked|ERROR' "$work/server.log" "$work/passkey-server.log"; then
  stage "server log has errors"
  grep -E 'panicked|ERROR' "$work/server.log" "$work/passkey-server.log" | head -20
  summary+=("server-log: 0 passed, 1 failed   [errors or panics logged]")
  failed=1
fi

stage "summary"
printf '%s\n' "${summary[@]}" | tee "${INTEROP_SUMMARY:-/dev/null}"
exit "$failed"
