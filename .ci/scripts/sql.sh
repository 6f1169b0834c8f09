#!/usr/bin/env bash
# The shipped SQL (sql/) against a real lake: every file returns the numbers `phone-consent
# check` gives. Usage: .ci/scripts/sql.sh BIN   (BIN: a built phone-consent binary)
#
# - installs (pip, pinned, idempotent) DuckDB, its delta extension as the PyPI package
#   duckdb-extension-delta (loaded from the package: no download from the extension
#   repository), sqlglot, and the deltalake reader;
# - builds a lake from a generated feed, and one from each conformance scenario, in a temp dir;
# - runs tests/sql/verify_sql.py: the DataFusion/DuckDB files through `BIN sql` and DuckDB, the
#   Athena (Trino) and Spark files parsed and transpiled to DuckDB by sqlglot; it prints one line
#   per assertion and `N passed, M failed`, and exits non-zero on any failure.
set -euo pipefail
bin="${1:?usage: $0 BIN}"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
cd "$(dirname "$0")/../.."

# duckdb and duckdb-extension-delta must carry the same version (the extension is built for it).
DUCKDB_VERSION="${DUCKDB_VERSION:-1.5.5}"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  "duckdb==$DUCKDB_VERSION" "duckdb-extension-delta==$DUCKDB_VERSION" \
  "sqlglot==${SQLGLOT_VERSION:-30.30.0}" \
  "deltalake==${PY_DELTALAKE_VERSION:-1.6.6}" pyarrow

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
quiet() { "$@" >"$work/log" 2>&1 || { cat "$work/log"; echo "failed: $*"; exit 1; }; }
quiet "$bin" generate --out "$work/feed" --accounts 300 --seed 7
quiet "$bin" run "$work/feed" --lake "$work/lake"

fixtures=()
for scenario in crates/cli/tests/fixtures/scenarios/*/; do
  name="$(basename "$scenario")"
  quiet "$bin" run "$scenario" --lake "$work/fixtures/$name"
  fixtures+=(--fixture-lake "$work/fixtures/$name")
done

python3 tests/sql/verify_sql.py --bin "$bin" --lake "$work/lake" --sql-dir sql "${fixtures[@]}"
