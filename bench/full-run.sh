#!/usr/bin/env bash
# The core benchmark (issue 2): generate the client's "full data set" — 143,000 accounts,
# ≈1 GB gzipped — with our generator, then time `phone-consent run` on it (bronze, silver
# and gold). Prints wall seconds, peak RSS, rows/s, and for scale the plain decompression
# time of the same files with 2 workers.
#   bench/full-run.sh                 # ACCOUNTS=143000 SEED=1 WORK=/tmp/phone-consent-bench
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS="${ACCOUNTS:-143000}"
SEED="${SEED:-1}"
WORK="${WORK:-/tmp/phone-consent-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phone-consent-target}"

command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null
command -v libdeflate-gunzip >/dev/null || apt-get install -y -q libdeflate-tools >/dev/null 2>&1 || true

# The dev profile optimises every crate (dependencies opt-level 2, ours 3; see Cargo.toml)
# and shares its compiled dependencies with the test suite, so no second, release build of
# datafusion is needed. Built with the test suite's feature set so nothing recompiles.
cargo build --workspace --all-targets --locked
bin="$CARGO_TARGET_DIR/debug/phone-consent"
feed="$WORK/feed-$ACCOUNTS-$SEED"
if [ ! -f "$feed/truth.csv" ]; then
  rm -rf "$feed"
  /usr/bin/time -f "generate: %e s wall, %M KB peak RSS" "$bin" generate --out "$feed" --accounts "$ACCOUNTS" --seed "$SEED"
fi
gz_bytes=$(find "$feed" -name '*.csv.gz' -printf '%s\n' | awk '{s+=$1} END {print s}')

gunzip_cmd="gzip -dc"
command -v libdeflate-gunzip >/dev/null && gunzip_cmd="libdeflate-gunzip -c"
sync
start=$(date +%s.%N)
find "$feed" -name '*.csv.gz' -print0 | xargs -0 -P2 -n 16 sh -c "for f; do $gunzip_cmd \"\$f\"; done > /dev/null" sh
decompress=$(echo "$(date +%s.%N) - $start" | bc)

lake="$WORK/lake"
rm -rf "$lake"
/usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$bin" run "$feed" --lake "$lake" --json > "$WORK/run.json"
read -r wall rss_kb < "$WORK/time.txt"
rows=$(python3 -c "import json,sys; s=json.load(open('$WORK/run.json')); print(sum(k['rows_read'] for k in s['kinds'].values()))")

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m)"
echo "feed: $ACCOUNTS accounts, seed $SEED, $(echo "scale=2; $gz_bytes/1000000000" | bc) GB gzipped, $rows rows"
echo "decompress only ($gunzip_cmd, 2 workers): ${decompress}s"
echo "phone-consent run: ${wall}s wall, peak RSS $((rss_kb / 1024)) MiB, $(echo "$rows / $wall" | bc) rows/s"
python3 -c "import json; s=json.load(open('$WORK/run.json')); print('summary:', {k: s[k] for k in ('keys','hard_deleted','soft_deleted','consent_true','consent_false','consent_null','can_send','rejects')})"
