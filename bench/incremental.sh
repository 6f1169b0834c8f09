#!/usr/bin/env bash
# The incremental benchmark (issue 3): on the core benchmark's feed (143,000 accounts,
# ≈1 GB gzipped), build a lake from every file but the last weekly change file and the
# last monthly snapshot, then time applying each of them alone to a copy of that lake.
# Each is applied RUNS times (default 3), each time to a fresh copy: prints every wall time
# and their median, the last run's peak RSS, its mode and the bytes it read from the feed.
#   bench/incremental.sh              # ACCOUNTS=143000 SEED=1 RUNS=3 WORK=/tmp/phone-consent-bench
set -euo pipefail
cd "$(dirname "$0")/.."
export PHONE_CONSENT_LOG="${PHONE_CONSENT_LOG:-warn}"
source bench/feed.sh
RUNS="${RUNS:-3}"

change=$(find "$feed/MAINTENANCE" -name '*-SUPPLFWD-BDL_*' -printf '%f\n' | sort -t- -k2 | tail -1)
snapshot=$(find "$feed/MAINTENANCE" -name '*-NON-FIN-BDL_*' -printf '%f\n' | sort -t- -k2 | tail -1)

# The landing area as it was before the two files arrived (hard links: same bytes, same
# modification times, so the ledger skips them unread later).
base_feed="$WORK/incremental-feed"
base_lake="$WORK/incremental-base-lake"
rm -rf "$base_feed" "$base_lake"
mkdir -p "$base_feed/MAINTENANCE" "$base_feed/ENROLLMENT"
cp -l "$feed"/ENROLLMENT/* "$base_feed/ENROLLMENT/"
cp -l "$feed"/MAINTENANCE/* "$base_feed/MAINTENANCE/"
rm "$base_feed/MAINTENANCE/$change" "$base_feed/MAINTENANCE/$snapshot"
echo "building the base lake (every file but $change and $snapshot)..."
/usr/bin/time -f "base lake: %e s wall, %M KB peak RSS" "$bin" run "$base_feed" --lake "$base_lake" --json > /dev/null

apply() { # $1 = label, $2 = file name; RUNS times, each on a fresh copy of the base lake
  local lake="$WORK/incremental-lake-$1" walls=() wall rss_kb
  cp -l "$feed/MAINTENANCE/$2" "$base_feed/MAINTENANCE/"
  for _ in $(seq "$RUNS"); do
    rm -rf "$lake"
    cp -a "$base_lake" "$lake"
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$bin" run "$base_feed" --lake "$lake" --json > "$WORK/incremental.json"
    read -r wall rss_kb < "$WORK/time.txt"
    walls+=("$wall")
  done
  rm "$base_feed/MAINTENANCE/$2"
  python3 - "$1" "$2" "$rss_kb" "$WORK/incremental.json" "${walls[@]}" <<'EOF'
import json, statistics, sys
label, name, rss_kb, path, *walls = sys.argv[1:]
s = json.load(open(path))
rows = sum(k["rows_read"] for k in s["kinds"].values())
print(f"{label}: {statistics.median(map(float, walls)):.2f}s wall (median of {', '.join(walls)}), "
      f"peak RSS {int(rss_kb) // 1024} MiB, mode {s['mode']}, "
      f"{s['feed_bytes_read']:,} bytes read from the feed ({rows:,} rows), "
      f"{s['files_skipped']} files skipped unread, gold version {s['gold_version']}  [{name}]")
EOF
  rm -rf "$lake"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m)"
apply weekly-change-file "$change"
apply monthly-snapshot "$snapshot"
