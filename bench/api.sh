#!/usr/bin/env bash
# The API benchmark (issue 4): `phone-consent serve` on 127.0.0.1 over the lake of the
# 143,000-account feed, loaded by wrk on the same 2-core machine. Reports single-check
# throughput and latency percentiles, the time of one 1,000,000-pair batch, the gold load
# time and the server's peak RSS. The in-process cost of one decision is criterion's:
#   cargo bench -p phone-consent-serve --bench decision
#   bench/api.sh        # ACCOUNTS=143000 SEED=1 WORK=/tmp/phone-consent-bench
#                       # DURATION=20s CONNECTIONS=2 SERVER_THREADS=1 PORT=18080
# wrk and the server share the 2 cores: one thread each (SERVER_THREADS=2 and more
# connections add throughput but let the three busy threads preempt each other, which
# shows as millisecond tails).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null
source bench/feed.sh
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-2}"
THREADS=1
SERVER_THREADS="${SERVER_THREADS:-1}"
PORT="${PORT:-18080}"

lake="$WORK/api-lake"
if [ ! -d "$lake/gold/phone_consent/_delta_log" ]; then
  echo "building the lake ($lake)"
  "$bin" run "$feed" --lake "$lake" > /dev/null
fi

key="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export API_KEY="$key"
paths="$WORK/api-paths.txt"
batch="$WORK/api-batch-1m.csv"
# Request paths and the batch: the feed's keys (truth.csv), every tenth one unknown.
python3 - "$feed/truth.csv" "$paths" "$batch" <<'PY'
import csv, sys
truth, paths, batch = sys.argv[1:]
keys = [(r["account_number"], r["phone_number"]) for r in csv.DictReader(open(truth))]
with open(paths, "w") as out:
    for i, (a, p) in enumerate(keys[:200_000]):
        if i % 10 == 9:
            a = a + "9"
        out.write(f"/v1/can-send-sms?account={a}&phone={p.replace('+', '%2B')}\n")
with open(batch, "w") as out:
    out.write("account,phone\n")
    for i in range(1_000_000):
        a, p = keys[i % len(keys)]
        out.write(f"{a},{p[2:]}\n")
PY

log="$WORK/api-serve.log"
PHONE_CONSENT_API_KEYS="$key" "$bin" serve --lake "$lake" --addr "127.0.0.1:$PORT" --threads "$SERVER_THREADS" 2> "$log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
started=$(date +%s.%N)
until curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null; do
  kill -0 $server 2>/dev/null || { echo "serve exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
ready=$(echo "$(date +%s.%N) - $started" | bc)
base="http://127.0.0.1:$PORT"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "lake: $ACCOUNTS accounts; $(curl -s "$base/readyz")"
echo "ready after ${ready}s (gold load: $(curl -s "$base/metrics" | awk '/^phone_consent_gold_load_seconds/ {print $2}')s)"

# Warm up, then measure.
wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s bench/api.lua "$base" -- "$paths" > /dev/null
echo "single checks: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, serve --threads $SERVER_THREADS"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/api.lua "$base" -- "$paths" \
  | tee "$WORK/api-wrk.txt" | grep -E "Requests/sec|Latency  |  50%|  90%|  99%|Non-2xx|Socket errors"

echo "batch of 1,000,000 pairs (CSV, $(du -m "$batch" | cut -f1) MB):"
for _ in 1 2 3; do
  curl -s -o "$WORK/api-batch-out.csv" -w "  HTTP %{http_code}, %{time_total}s, %{size_download} bytes\n" \
    -H "Authorization: Bearer $key" -H "Content-Type: text/csv" \
    --data-binary @"$batch" "$base/v1/can-send-sms/batch"
done
echo "  answers: $(($(wc -l < "$WORK/api-batch-out.csv") - 1))"
echo "server peak RSS: $(awk '/VmHWM/ {print int($2/1024)}' /proc/$server/status) MiB"
