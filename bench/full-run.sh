#!/usr/bin/env bash
# The core benchmark (issue 2): generate the client's "full data set" — 143,000 accounts,
# ≈1 GB gzipped — with our generator, then time `phone-consent run` on it (bronze, silver
# and gold). Prints wall seconds, peak RSS, rows/s, CPU seconds (wall time varies by up to a
# third from hour to hour here; CPU less), and for scale the plain decompression time of the
# same files with 2 workers.
#   bench/full-run.sh                 # ACCOUNTS=143000 SEED=1 WORK=/tmp/phone-consent-bench
#   PROFILE=release bench/full-run.sh # the binary the Dockerfile ships (see bench/feed.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v libdeflate-gunzip >/dev/null || apt-get install -y -q libdeflate-tools >/dev/null 2>&1 || true
source bench/feed.sh
gz_bytes=$(find "$feed" -name '*.csv.gz' -printf '%s\n' | awk '{s+=$1} END {print s}')

gunzip_cmd="gzip -dc"
command -v libdeflate-gunzip >/dev/null && gunzip_cmd="libdeflate-gunzip -c"
decompress=$(decompress_seconds "$gunzip_cmd")

lake="$WORK/lake"
rm -rf "$lake"
/usr/bin/time -f "%e %M %U %S" -o "$WORK/time.txt" "$bin" run "$feed" --lake "$lake" --json > "$WORK/run.json"
read -r wall rss_kb user_s sys_s < "$WORK/time.txt"
cpu=$(echo "$user_s + $sys_s" | bc)
rows=$(python3 -c "import json,sys; s=json.load(open('$WORK/run.json')); print(sum(k['rows_read'] for k in s['kinds'].values()))")

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m)"
echo "binary: $PROFILE profile, $bin"
echo "feed: $ACCOUNTS accounts, seed $SEED, $(echo "scale=2; $gz_bytes/1000000000" | bc) GB gzipped, $rows rows"
echo "decompress only ($gunzip_cmd, 2 workers): ${decompress}s"
echo "phone-consent run: ${wall}s wall, peak RSS $((rss_kb / 1024)) MiB, $(echo "$rows / $wall" | bc) rows/s"
echo "CPU: ${cpu}s (user ${user_s}s, system ${sys_s}s), $(echo "scale=2; $cpu / $wall" | bc) cores busy on average"
python3 -c "import json; s=json.load(open('$WORK/run.json')); print('summary:', {k: s[k] for k in ('keys','hard_deleted','soft_deleted','consent_true','consent_false','consent_null','can_send','rejects')})"
