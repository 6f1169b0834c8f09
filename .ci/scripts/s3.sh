#!/usr/bin/env bash
# The lake and the feed in S3, against a real S3-compatible server on 127.0.0.1 (moto's):
# a full run from s3:// into s3://, an incremental run that fetches only the new files,
# check, sql, report and serve reading the S3 lake, each compared with the same feed run
# into a local lake.
#   bash .ci/scripts/s3.sh BIN
set -euo pipefail
bin="$(realpath "${1:?usage: s3.sh BIN}")"
cd "$(dirname "$0")/../.."

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  "moto[server]==$MOTO_VERSION"

work="$(mktemp -d)"
moto_pid=""
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
  sleep 0.2
done

export AWS_ACCESS_KEY_ID=ci AWS_SECRET_ACCESS_KEY=ci AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true
export AWS_EC2_METADATA_DISABLED=true
export PHONE_CONSENT_PII_KEY=ci-s3-pii-key

passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$1"; }
same() { # same NAME FILE_A FILE_B: equal, not empty, and no command in them failed
  if [ ! -s "$2" ] || grep -q '^error' "$2"; then
    fail "$1"; head -n 5 "$2" | sed 's/^/      /'
  elif cmp -s "$2" "$3"; then ok "$1"; else fail "$1"; diff "$2" "$3" | head -20 | sed 's/^/      /'; fi
}

python3 - "$AWS_ENDPOINT_URL" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
for bucket in ("raw-feed", "lake-bucket"):
    s3.create_bucket(Bucket=bucket)
PY

# A generated feed; the last change file and the last snapshot arrive in a second delivery.
"$bin" generate --out "$work/feed" --accounts 300 --seed 11 >/dev/null
late="$(cd "$work/feed" && { ls MAINTENANCE/*SUPPLFWD* | sort | tail -n 1; ls MAINTENANCE/*NON-FIN* | sort | tail -n 1; })"
upload() { # upload FILE...: into s3://raw-feed/feed/ under the same relative path
  python3 - "$AWS_ENDPOINT_URL" "$work/feed" "$@" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
root = sys.argv[2]
for rel in sys.argv[3:]:
    s3.upload_file(f"{root}/{rel}", "raw-feed", f"feed/{rel}")
PY
}
mapfile -t first < <(cd "$work/feed" && find ENROLLMENT MAINTENANCE -type f | sort | grep -vxF "$late")
upload "${first[@]}"

lake=s3://lake-bucket/lake
if "$bin" run s3://raw-feed/feed --lake "$lake" --json >"$work/run1.json" 2>"$work/run1.err"; then
  ok "full run: s3://raw-feed/feed into $lake"
else
  fail "full run"; sed 's/^/      /' "$work/run1.err"
fi
mapfile -t second <<<"$late"
upload "${second[@]}"
if "$bin" run s3://raw-feed/feed --lake "$lake" --json >"$work/run2.json" 2>"$work/run2.err"; then
  ok "incremental run"
else
  fail "incremental run"; sed 's/^/      /' "$work/run2.err"
fi
python3 - "$work/run2.json" "${#first[@]}" "$work/feed" "${second[@]}" <<'PY' && ok "the incremental run read only the ${#second[@]} new files" || fail "the incremental run's reads"
import json, os, sys
run = json.load(open(sys.argv[1]))
skipped, root, new = int(sys.argv[2]), sys.argv[3], sys.argv[4:]
new_bytes = sum(os.path.getsize(os.path.join(root, f)) for f in new)
problems = []
if run["mode"] != "incremental":
    problems.append(f"mode {run['mode']}")
if run["files_skipped"] != skipped:
    problems.append(f"files_skipped {run['files_skipped']}, expected {skipped}")
if run["feed_bytes_read"] != new_bytes:
    problems.append(f"feed_bytes_read {run['feed_bytes_read']}, expected {new_bytes}")
if problems:
    print("      " + "; ".join(problems))
    sys.exit(1)
PY

# The same feed into a local lake: every answer from S3 must equal it.
local="$work/local-lake"
"$bin" run "$work/feed" --lake "$local" --json >/dev/null 2>"$work/local-run.err"
gold='SELECT * FROM phone_consent ORDER BY account_number, phone_number'
"$bin" sql "$gold" --format csv --lake "$lake" >"$work/gold-s3.csv" 2>"$work/sql.err" || sed "s/^/      /" "$work/sql.err"
"$bin" sql "$gold" --format csv --lake "$local" >"$work/gold-local.csv"
same "sql over the S3 lake: gold equals the local run's ($(wc -l <"$work/gold-local.csv") rows)" \
  "$work/gold-s3.csv" "$work/gold-local.csv"

head -n 40 "$work/gold-local.csv" | tail -n +2 | cut -d, -f1,2 >"$work/keys.csv"
: >"$work/check-s3.txt"
: >"$work/check-local.txt"
while IFS=, read -r account phone; do
  "$bin" check "$account" "$phone" --lake "$lake" --json >>"$work/check-s3.txt" 2>&1 || true
  "$bin" check "$account" "$phone" --lake "$local" --json >>"$work/check-local.txt" 2>&1 || true
done <"$work/keys.csv"
same "check over the S3 lake: $(wc -l <"$work/keys.csv") keys answer as over the local lake" \
  "$work/check-s3.txt" "$work/check-local.txt"

# The audit trail: history and as-of answers fold the stored events read from S3.
: >"$work/history-s3.txt"
: >"$work/history-local.txt"
while IFS=, read -r account phone; do
  for l in "$lake" "$local"; do
    out="$work/history-local.txt"
    [ "$l" = "$lake" ] && out="$work/history-s3.txt"
    "$bin" history "$account" "$phone" --lake "$l" --json >>"$out" 2>&1 || true
    "$bin" check "$account" "$phone" --as-of 2022-06-30 --lake "$l" --json >>"$out" 2>&1 || true
  done
done < <(head -n 10 "$work/keys.csv")
same "history and check --as-of over the S3 lake answer as over the local lake" \
  "$work/history-s3.txt" "$work/history-local.txt"
gold_as_of='gold --as-of 2022-06-30 --format csv'
"$bin" $gold_as_of --lake "$lake" >"$work/gold-as-of-s3.csv" 2>"$work/gold-as-of.err" || sed 's/^/      /' "$work/gold-as-of.err"
"$bin" $gold_as_of --lake "$local" >"$work/gold-as-of-local.csv"
same "gold --as-of over the S3 lake equals the local lake's ($(wc -l <"$work/gold-as-of-local.csv") rows)" \
  "$work/gold-as-of-s3.csv" "$work/gold-as-of-local.csv"

if "$bin" report --lake "$lake" --format json >"$work/report.json" 2>"$work/report.err" &&
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r else 1)' "$work/report.json"; then
  ok "report over the S3 lake"
else
  fail "report over the S3 lake"; sed 's/^/      /' "$work/report.err"
fi

api_port="$(free_port)"
"$bin" serve --lake "$lake" --addr "127.0.0.1:$api_port" --insecure-no-auth --poll 1 \
  >"$work/serve.log" 2>&1 &
serve_pid=$!
ready=""
for _ in $(seq 150); do
  if curl -sf "http://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
if [ -n "$ready" ]; then ok "serve loads gold from the S3 lake"; else fail "serve never became ready"; sed 's/^/      /' "$work/serve.log"; fi
IFS=, read -r account phone <"$work/keys.csv"
answer="$(curl -s "http://127.0.0.1:$api_port/v1/can-send-sms?account=$account&phone=${phone/+/%2B}")"
expected="$("$bin" check "$account" "$phone" --lake "$local" --json)"
python3 - "$answer" "$expected" <<'PY' && ok "serve answers a key as check does" || fail "serve's answer"
import json, sys
got, want = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pick = lambda d: (d["allowed"], d["reason"])
if pick(got) != pick(want):
    print(f"      serve {pick(got)}, check {pick(want)}")
    sys.exit(1)
PY

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
