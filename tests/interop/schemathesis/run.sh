#!/usr/bin/env bash
# Schemathesis against a live server's management API document.
# Usage: run.sh BASE_URL ADMIN_TOKEN  (schemathesis on PATH; ST_MAX_EXAMPLES, default 25)
# Prints "schemathesis: N passed, M failed" where N/M count API operations.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${1%/}"; token="$2"
api() { curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

slug="fuzz-$RANDOM$RANDOM"
api -X POST "$base/api/v1/tenants" -d "{\"slug\":\"$slug\",\"display_name\":\"Schemathesis\"}" >/dev/null
export ST_TENANT="$slug"
ST_CLIENT_ID=$(api -X POST "$base/api/v1/tenants/$slug/clients" \
  -d '{"name":"fuzz","client_type":"confidential","redirect_uris":["https://app.example.com/cb"]}' | field client_id)
ST_USER_ID=$(api -X POST "$base/api/v1/tenants/$slug/users" \
  -d '{"username":"fuzz.user","email":"fuzz@example.com","password":"correct horse battery"}' | field id)
export ST_CLIENT_ID ST_USER_ID

report="$(mktemp -d)"
trap 'rm -rf "$report"' EXIT
cd "$report"  # schemathesis keeps a .schemathesis cache in the working directory
status=0
schemathesis --config-file "$here/schemathesis.toml" run "$base/api/v1/openapi.json" \
  --url "$base" -H "Authorization: Bearer $token" \
  --max-examples "${ST_MAX_EXAMPLES:-25}" --workers 1 --no-color \
  --generation-database none --seed "${ST_SEED:-20261126}" \
  --report junit --report-junit-path "$report/junit.xml" || status=$?
# One JUnit test case per API operation (plus the stateful phase).
python3 - "$report/junit.xml" "$status" <<'PY'
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
passed = failed = 0
for case in cases:
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
        print(f"  FAIL {case.get('name')}")
    else:
        passed += 1
if sys.argv[2] != "0" and failed == 0:
    failed = 1  # schemathesis itself failed (no report of a case)
print(f"schemathesis: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
