# shellcheck shell=bash
# Shared by the benchmarks (sourced): the benchmark feed's settings, the binary built as the
# test suite builds it, and the feed generated once per (ACCOUNTS, SEED) under WORK.
# Sets: bin, feed; defines decompress_seconds.
ACCOUNTS="${ACCOUNTS:-143000}"
SEED="${SEED:-1}"
WORK="${WORK:-/tmp/phone-consent-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phone-consent-target}"
command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null

# PROFILE=dev (default): the dev profile optimises every crate (dependencies opt-level 2,
# ours 3; see Cargo.toml) and shares its compiled dependencies with the test suite, built
# with its feature set so nothing recompiles. PROFILE=release: the binary the Dockerfile
# ships, measured no faster (README, Performance); its first build compiles every
# dependency once more (102 min here on 2 cores, sharing the machine with other builds).
PROFILE="${PROFILE:-dev}"
case "$PROFILE" in
  dev)
    cargo build --workspace --all-targets --locked
    bin="$CARGO_TARGET_DIR/debug/phone-consent" ;;
  release)
    cargo build --release --locked -p phone-consent --bin phone-consent
    bin="$CARGO_TARGET_DIR/release/phone-consent" ;;
  *) echo "PROFILE must be dev or release, not $PROFILE" >&2; exit 2 ;;
esac
feed="$WORK/feed-$ACCOUNTS-$SEED"
if [ ! -f "$feed/truth.csv" ]; then
  rm -rf "$feed"
  /usr/bin/time -f "generate: %e s wall, %M KB peak RSS" "$bin" generate --out "$feed" --accounts "$ACCOUNTS" --seed "$SEED"
fi

# Seconds to decompress every file of the feed with CMD (e.g. "igzip -dc"), 2 workers, the
# output thrown away: the scale the issue gives for a run's time.
decompress_seconds() {
  local start
  sync
  start=$(date +%s.%N)
  find "$feed" -name '*.csv.gz' -print0 |
    xargs -0 -P2 -n 16 sh -c "for f; do $1 \"\$f\"; done > /dev/null" sh
  echo "$(date +%s.%N) - $start" | bc
}
