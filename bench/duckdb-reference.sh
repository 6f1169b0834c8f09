#!/usr/bin/env bash
# The issue's yardsticks measured on this machine, on the feed bench/full-run.sh times us on:
# decompression with 2 workers (ISA-L's igzip and libdeflate, the two tools the issue names)
# and a DuckDB gold without bronze (bench/duckdb-reference.sql, 2 threads), with its wall
# time, CPU and peak RSS, and DuckDB merely reading every row of each kind (its floor).
#   bench/duckdb-reference.sh   # ACCOUNTS=143000 SEED=1 WORK=/tmp/phone-consent-bench
set -euo pipefail
cd "$(dirname "$0")/.."
command -v igzip >/dev/null || apt-get install -y -q isal >/dev/null 2>&1 || true
command -v libdeflate-gunzip >/dev/null || apt-get install -y -q libdeflate-tools >/dev/null 2>&1 || true
# The version the SQL checks pin (.ci/scripts/sql.sh).
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  "duckdb==${DUCKDB_VERSION:-1.5.5}"
source bench/feed.sh

for gunzip_cmd in "igzip -dc" "libdeflate-gunzip -c"; do
  command -v "${gunzip_cmd%% *}" >/dev/null || { echo "${gunzip_cmd%% *}: not installed"; continue; }
  echo "decompress only ($gunzip_cmd, 2 workers): $(decompress_seconds "$gunzip_cmd")s"
done

# One script, two modes: `floor` reads every row of each kind; `gold` builds the reference gold
# (timed alone, so its peak RSS is its own).
cat > "$WORK/duckdb-reference.py" <<'PY'
import sys, time
import duckdb
mode, feed, sql = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute("SET threads = 2")
if mode == "floor":
    for kind in ("MAINTENANCE/*-NON-FIN-*", "MAINTENANCE/*-SUPPLFWD-*", "ENROLLMENT/*"):
        start = time.time()
        (rows,) = con.execute(
            f"SELECT count(*) FROM read_csv('{feed}/{kind}.csv.gz', delim = '|',"
            " header = true, all_varchar = true)").fetchone()
        print(f"duckdb {duckdb.__version__} reading {kind}: {time.time() - start:.2f}s, {rows} rows")
else:
    con.execute(open(sql).read().replace("FEED", feed))
    keys, consent = con.execute("SELECT count(*), count(consent) FROM gold").fetchone()
    print(f"duckdb {duckdb.__version__} gold: {keys} keys, {consent} with consent")
PY
python3 "$WORK/duckdb-reference.py" floor "$feed" bench/duckdb-reference.sql
/usr/bin/time -f "%e %M %U %S" -o "$WORK/duckdb-time.txt" \
  python3 "$WORK/duckdb-reference.py" gold "$feed" bench/duckdb-reference.sql
read -r wall rss_kb user_s sys_s < "$WORK/duckdb-time.txt"
echo "duckdb gold (no bronze, 2 threads): ${wall}s wall, CPU $(echo "$user_s + $sys_s" | bc)s, peak RSS $((rss_kb / 1024)) MiB"
