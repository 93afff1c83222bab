#!/usr/bin/env bash
# Runs the reference load driver against a release build of Tessera (SQLite + the
# in-process cache) and against the certified peer (node-oidc-provider), one after the
# other in the same session, so the two sets of figures are comparable.
#
#   tests/perf/side-by-side.sh [BENCH_DIR]
#
# BENCH_DIR is a writable copy of tests/perf/bench, the reference harness (the
# `oauth-bench` driver and the node-oidc-provider peer; default: a fresh copy in a temp
# dir, without node_modules, target or results). The driver is built once into
# $CARGO_TARGET_DIR/oauth-bench and copied into the copy; the peer needs Node and npm.
# Reads RUNS, DURATION, WARMUP, CONCURRENCY, SCENARIOS like the harness's run.sh, and
# USERS (login accounts to create, default 1000). Results land in BENCH_DIR/results.
# BACKEND=postgres runs Tessera on Postgres + Redis (a fresh database on the local
# server, PG_URL/REDIS_URL to override) instead of SQLite + the in-process cache;
# PEER=0 skips the peer. TESSERA_BIN runs that server binary instead of building this
# checkout (to measure an older commit side by side: build it elsewhere, pass its
# binary). After the matrix the script prints Tessera's resident memory (at once, and
# again after 3 s idle) and the SQL statements per request of each route (from its
# /metrics).
#
# The tenant is set up like the peer (issue 19): an API `urn:bench:api` (scope api:read,
# RS256 JWT access tokens, granted to the client) for the client-credentials scenario,
# and a default API `urn:bench:user` for the user flows and the introspected token,
# whose access tokens are USER_TOKEN_FORMAT (default `reference`: opaque, like the
# peer's) signed with BENCH_ALG (default RS256) when `jwt`. BENCH_ALG also signs the
# client's ID tokens (`id_token_signed_response_alg`), so BENCH_ALG=ES256 measures the
# user flows with no RSA signature at all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root="$(pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera-target}"

bench="${1:-}"
if [ -z "$bench" ]; then
  tmp="$(mktemp -d)"
  tar -C "$root/tests/perf" --exclude=node_modules --exclude=target --exclude=results \
    -cf - bench | tar -C "$tmp" -xf -
  bench="$tmp/bench"
  chmod -R u+w "$bench"
fi
mkdir -p "$bench/results"
users="${USERS:-1000}"
port=3110
base="http://127.0.0.1:$port"
admin="bench-admin-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
data="$(mktemp -d)"
backend="${BACKEND:-embedded}"
backend_env=()
if [ "$backend" = postgres ]; then
  pg="${PG_URL:-postgres://postgres@127.0.0.1}"
  db="tessera_bench_$(date +%s)"
  psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
  backend_env=(TESSERA_DATABASE_URL="$pg/$db" TESSERA_REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
    TESSERA_CACHE_NAMESPACE="$db")
fi

tessera_bin="${TESSERA_BIN:-$CARGO_TARGET_DIR/release/tessera}"
[ -n "${TESSERA_BIN:-}" ] || cargo build --release --locked -p api
# The driver is a Cargo project of its own, outside the workspace. run.sh expects it
# at driver/target/release/oauth-bench, so it is built in a target dir of its own
# (kept between runs) and copied there.
if [ ! -x "$bench/driver/target/release/oauth-bench" ]; then
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/oauth-bench" \
    cargo build --release --manifest-path "$bench/driver/Cargo.toml"
  mkdir -p "$bench/driver/target/release"
  cp "$CARGO_TARGET_DIR/oauth-bench/release/oauth-bench" "$bench/driver/target/release/"
fi

# Rate limits are per client and per address: a load test from one loopback address
# with one client would measure the limiters, so they are raised here (and only here).
TESSERA_LISTEN="127.0.0.1:$port" TESSERA_PUBLIC_URL="$base" TESSERA_DATA_DIR="$data" \
TESSERA_MASTER_KEY="$(head -c 32 /dev/urandom | base64)" TESSERA_ADMIN_TOKEN="$admin" \
TESSERA_TOKEN_REQUESTS_PER_MINUTE=1000000000 \
TESSERA_LOG="${TESSERA_LOG:-warn}" \
  env "${backend_env[@]}" "$tessera_bin" serve > "$bench/results/tessera-server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  curl -fs "$base/api/v1/tenants" -H "Authorization: Bearer $admin" >/dev/null && break
  sleep 0.2
done

api() { curl -fsS -X POST "$base/api/v1/$1" -H "Authorization: Bearer $admin" \
  -H 'content-type: application/json' -d "$2"; }
bench_alg="${BENCH_ALG:-RS256}"
user_format="${USER_TOKEN_FORMAT:-reference}"
api tenants "{\"slug\":\"bench\",\"display_name\":\"Bench\",
  \"settings\":{\"signing_algs\":[\"RS256\",\"ES256\",\"EdDSA\"]}}" >/dev/null
# The tenant's per-endpoint limits (authorize, token, ...) count per address and per
# client; every request here comes from one address with one client, so each endpoint
# the server lists is raised for this tenant to the most a window may allow, over
# one-second windows.
raised="$(curl -fsS "$base/api/v1/tenants/bench" -H "Authorization: Bearer $admin" | python3 -c '
import json, sys
limits = json.load(sys.stdin)["settings"]["rate_limits"]
top = {"per_address": 1000000, "per_target": 1000000, "window_secs": 1}
print(json.dumps({"settings": {"rate_limits": {name: top for name in limits}}}))')"
curl -fsS -X PATCH "$base/api/v1/tenants/bench" -H "Authorization: Bearer $admin" \
  -H 'content-type: application/json' -d "$raised" >/dev/null
client="$(api tenants/bench/clients '{"name":"Bench","client_type":"confidential",
  "redirect_uris":["http://127.0.0.1:3199/cb"],"first_party":true,
  "grant_types":["authorization_code","refresh_token","client_credentials"],
  "id_token_signed_response_alg":"'"$bench_alg"'"}')"
client_id="$(printf '%s' "$client" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')"
client_secret="$(printf '%s' "$client" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')"
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
cc_api="$(api tenants/bench/apis '{"name":"Bench API","identifier":"urn:bench:api",
  "scopes":[{"value":"api:read","description":"Read"}],"signing_alg":"RS256"}' | id_of)"
user_api="$(api tenants/bench/apis '{"name":"Bench user API","identifier":"urn:bench:user",
  "scopes":[{"value":"user:read","description":"Read"},{"value":"api:read","description":"Read"}],"allow_offline_access":true,
  "token_format":"'"$user_format"'","signing_alg":"'"$bench_alg"'"}' | id_of)"
# The introspected token is minted by client_credentials without a resource (so for
# the default API, a reference token like the peer's opaque one) with --cc-scope.
for granted in "$cc_api:api:read" "$user_api:api:read"; do
  api tenants/bench/client-grants "{\"client_id\":\"$client_id\",\"api_id\":\"${granted%%:*}\",
    \"scopes\":[\"${granted#*:}\"]}" >/dev/null
done
curl -fsS -X PATCH "$base/api/v1/tenants/bench" -H "Authorization: Bearer $admin" \
  -H 'content-type: application/json' -d '{"settings":{"default_api":"urn:bench:user"}}' >/dev/null
export -f api; export base admin
seq 0 $((users - 1)) | xargs -P 2 -I{} bash -c \
  'api tenants/bench/users "{\"username\":\"user{}\",\"password\":\"bench-pass\"}" >/dev/null'
echo "tenant bench: client $client_id, $users users; user tokens: $user_format, $bench_alg"

# `--flag=value`: a random client id or secret may begin with `-`.
ISSUER="$base/t/bench" LABEL="tessera-$backend" SERVER_PID="$server" "$bench/run.sh" \
  --cc-scope api:read --cc-resource urn:bench:api \
  --client-id="$client_id" --client-secret="$client_secret" \
  --redirect-uri http://127.0.0.1:3199/cb --users "$users"
echo "tessera RSS after the matrix: $(ps -o rss= -p "$server") KiB"
# Idle workers give back what they keep between jobs (the Argon2id blocks, after 1 s).
sleep 3
echo "tessera RSS 3 s later, idle: $(ps -o rss= -p "$server") KiB"
echo "SQL statements per request (mean over the run), by route:"
curl -fsS "$base/metrics" | python3 -c '
import re, sys
sums, counts = {}, {}
for line in sys.stdin:
    m = re.match(r"tessera_db_statements_per_request_(sum|count)\{route=\"([^\"]+)\"\} (\S+)", line)
    if m:
        (sums if m[1] == "sum" else counts)[m[2]] = float(m[3])
for route in sorted(counts):
    if counts[route]:
        print(f"  {route:60} {sums[route] / counts[route]:5.2f}  ({int(counts[route])} requests)")
'
kill "$server"; wait "$server" 2>/dev/null || true

[ "${PEER:-1}" = 0 ] || "$bench/run_peer.sh"
