#!/usr/bin/env bash
# Starts `phone-consent serve` on a conformance scenario's lake and runs schemathesis
# against the server's own /openapi.json: no 5xx, every status code, content type, header
# and body as documented, and auth enforced where documented.
#   tests/api/schemathesis.sh BIN [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$1"
max_examples="${2:-40}"
work="$(mktemp -d)"
port="${PORT:-18181}"
"$bin" run crates/cli/tests/fixtures/scenarios/09-withdrawal-after-last-snapshot --lake "$work/lake" > /dev/null
key="ci-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PHONE_CONSENT_API_KEYS="$key" "$bin" serve --lake "$work/lake" --addr "127.0.0.1:$port" 2> "$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break
  kill -0 $server 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.2
done
schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth \
  --max-examples "$max_examples" \
  --no-color
if grep -q "ERROR\|panicked" "$work/serve.log"; then
  echo "the server logged errors:"; cat "$work/serve.log"; exit 1
fi
