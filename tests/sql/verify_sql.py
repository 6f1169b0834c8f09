#!/usr/bin/env python3
"""Run every shipped SQL file against a lake and check its numbers (see .ci/scripts/sql.sh).

    python3 tests/sql/verify_sql.py --bin BIN --lake LAKE [--sql-dir sql] [--fixture-lake L]...

- sql/can_send_sms.sql and sql/reports/*.sql (DataFusion / DuckDB): through `BIN sql` and
  through DuckDB (its delta extension from the pip package `duckdb-extension-delta`, never
  downloaded), over views named like the DataFusion tables;
- sql/athena/*.sql (Trino) and sql/spark/*.sql (Spark SQL): parsed with sqlglot in their
  dialect, transpiled to DuckDB (the table `phone_consent.phone_consent` becomes the view
  `phone_consent`) and run there.

Every answer is compared with an independent source: the check queries with `BIN check
--json` on every gold pair plus unknown pairs; decisions_by_reason with counts of those same
`check` answers (and `phone_state`'s decision columns); recent_withdrawals (report date and
window substituted on its `params` line, including a window whose ends fall on withdrawal
dates) and deletions_by_month with a plain-Python computation over gold as read by the
`deltalake` package. Each --fixture-lake (a conformance scenario's lake) gets the check and
decisions_by_reason assertions. Prints one line per assertion and `N passed, M failed`; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import csv
import datetime as dt
import io
import json
import os
import pathlib
import re
import subprocess
import sys

import duckdb
import sqlglot
from sqlglot import exp

REASONS = [  # the codes a gold row can have, in SEMANTICS §7 precedence
    "deleted",
    "not_client_sourced",
    "consent_withdrawn",
    "allowed_explicit_consent",
    "allowed_implicit_consent",
]
UNKNOWN = [("9999999999999999", "+12125550199")]  # main() adds a known account / phone

passed = 0
failed = 0


def record(ok: bool, name: str, detail: str = "") -> None:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


# ---------------------------------------------------------------------------- engines


def cell(v) -> str:
    """One value as `phone-consent sql --format csv` writes it."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return str(v)


class Engines:
    def __init__(self, bin_path: str, lake: pathlib.Path):
        self.bin = bin_path
        self.lake = lake
        self.duck = duckdb_connection(lake)

    def datafusion(self, query: str) -> tuple[list[str], list[tuple[str, ...]]]:
        out = subprocess.run(
            [self.bin, "sql", query, "--lake", str(self.lake), "--format", "csv"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows = list(csv.reader(io.StringIO(out)))
        if not rows:
            return [], []
        return rows[0], [tuple(r) for r in rows[1:]]

    def duckdb(self, query: str) -> tuple[list[str], list[tuple[str, ...]]]:
        rel = self.duck.execute(query)
        names = [d[0] for d in rel.description]
        return names, [tuple(cell(v) for v in row) for row in rel.fetchall()]

    def check(self, account: str, phone: str) -> dict:
        out = subprocess.run(
            [self.bin, "check", account, phone, "--json", "--lake", str(self.lake)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(out)


def duckdb_connection(lake: pathlib.Path) -> duckdb.DuckDBPyConnection:
    """DuckDB with the delta extension loaded from its pip package, and one view per lake table
    (named as `phone-consent sql` registers them: `phone_consent`, `gold.phone_consent`, ...)."""
    import duckdb_extension_delta  # the PyPI package `duckdb-extension-delta`

    pkg = pathlib.Path(duckdb_extension_delta.__file__).parent
    ext = pkg / "extensions" / f"v{duckdb.__version__}" / "delta.duckdb_extension"
    if not ext.is_file():
        sys.exit(
            f"no delta extension for duckdb {duckdb.__version__} in {pkg} "
            f"(found {sorted(str(p.relative_to(pkg)) for p in pkg.rglob('*.duckdb_extension'))}): "
            "pin duckdb and duckdb-extension-delta to the same version"
        )
    con = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    con.execute(f"LOAD '{ext}'")
    tables = sorted(p.parent for p in lake.glob("*/*/_delta_log"))
    names = collections.Counter(t.name for t in tables)
    for t in tables:
        layer, name = t.parent.name, t.name
        scan = f"SELECT * FROM delta_scan('{t}')"
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{layer}"')
        con.execute(f'CREATE VIEW "{layer}"."{name}" AS {scan}')
        if names[name] == 1:
            con.execute(f'CREATE VIEW "{name}" AS {scan}')
    return con


def to_duckdb(query: str, dialect: str) -> str:
    """sqlglot: `dialect` -> DuckDB, with the catalog table phone_consent.phone_consent read
    from the DuckDB view `phone_consent`."""
    trees = sqlglot.parse(query, read=dialect)
    if len(trees) != 1:
        raise ValueError(f"expected one statement, parsed {len(trees)}")
    tree = trees[0]
    for table in tree.find_all(exp.Table):
        if table.name == "phone_consent" and table.args.get("db"):
            table.set("db", None)
            table.set("catalog", None)
    return tree.sql(dialect="duckdb")


# ---------------------------------------------------------------------------- the files


def body_start(sql: str) -> int:
    """Offset of the first line that is not a leading comment."""
    pos = 0
    for line in sql.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("--"):
            return pos
        pos += len(line)
    return pos


def with_request(sql: str, pairs: list[tuple[str, str]]) -> str:
    """The check file with its `request` VALUES list (up to `-- end of request`) replaced, as
    crates/cli/tests/it/sql_file.rs does."""
    start = sql.index("VALUES", body_start(sql))
    end = sql.index("-- end of request")
    values = ", ".join(f"('{a}', '{p}')" for a, p in pairs)
    return f"{sql[:start]}VALUES {values}\n{sql[end:]}"


def with_params(sql: str, as_of: dt.date, days: int) -> str:
    """recent_withdrawals with the report date and window of its `params` line replaced."""
    out, n = re.subn(
        r"(?i)\bcurrent_date(\(\))?(\s+AS\s+as_of\b)", f"DATE '{as_of.isoformat()}'\\2", sql
    )
    out, m = re.subn(r"(?i)\b\d+(\s+AS\s+days\b)", f"{days}\\1", out)
    if (n, m) != (1, 1):
        raise ValueError(f"params line not found (as_of: {n}, days: {m})")
    return out


class Runner:
    """Runs one file's text on every engine its dialect allows, by name."""

    def __init__(self, engines: Engines):
        self.e = engines

    def run(self, dialect: str, query: str) -> dict[str, tuple[list[str], list[tuple]]]:
        if dialect == "datafusion":
            return {"datafusion": self.e.datafusion(query), "duckdb": self.e.duckdb(query)}
        return {f"{dialect}->duckdb": self.e.duckdb(to_duckdb(query, dialect))}


def files(sql_dir: pathlib.Path) -> dict[str, list[tuple[str, pathlib.Path]]]:
    """Report name -> [(dialect, path)], for the check and the three reports."""
    out: dict[str, list[tuple[str, pathlib.Path]]] = collections.defaultdict(list)
    out["can_send_sms"].append(("datafusion", sql_dir / "can_send_sms.sql"))
    for p in sorted((sql_dir / "reports").glob("*.sql")):
        out[p.stem].append(("datafusion", p))
    for dialect, folder in (("trino", "athena"), ("spark", "spark")):
        for p in sorted((sql_dir / folder).glob("*.sql")):
            out[p.stem].append((dialect, p))
    return out


# ---------------------------------------------------------------------------- independent data


def gold_rows(lake: pathlib.Path) -> list[dict]:
    from deltalake import DeltaTable

    return DeltaTable(str(lake / "gold" / "phone_consent")).to_pyarrow_table().to_pylist()


def decide(row: dict) -> tuple[bool, str]:
    """SEMANTICS §7 on one gold row (used only to cross-check `check`)."""
    if row["is_deleted"]:
        return False, "deleted"
    if row["phone_source"] != "CLIENT":
        return False, "not_client_sourced"
    if row["has_sms_consent"] is False:
        return False, "consent_withdrawn"
    if row["has_sms_consent"] is True:
        return True, "allowed_explicit_consent"
    return True, "allowed_implicit_consent"


# ---------------------------------------------------------------------------- main


def check_and_counts(engines: Engines, shipped, jobs: int, label: str, full: bool) -> list[dict]:
    """(a) every check file = `check` on every gold pair and unknown pairs; (b) every
    decisions_by_reason = counts of those answers. Returns gold's rows."""
    runner = Runner(engines)
    gold = gold_rows(engines.lake)
    record(len(gold) > 0, f"{label}gold has rows ({len(gold)})", "empty gold")
    if not gold:
        return gold
    by_key = {(r["account_number"], r["phone_number"]): r for r in gold}

    # `check` on every gold pair and on pairs gold does not have.
    unknown = list(UNKNOWN)
    some = gold[0]
    other = next((r for r in gold if r["account_number"] != some["account_number"]), some)
    for a, p in [(some["account_number"], "+12125550199"), (other["account_number"], some["phone_number"])]:
        if (a, p) not in by_key and (a, p) not in unknown:
            unknown.append((a, p))
    pairs = sorted(by_key) + unknown
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        answers = dict(zip(pairs, pool.map(lambda k: engines.check(*k), pairs)))
    truth = {k: ("true" if v["allowed"] else "false", v["reason"]) for k, v in answers.items()}
    mismatched = [
        (k, truth[k], decide(by_key[k])) for k in by_key
        if truth[k] != ("true" if decide(by_key[k])[0] else "false", decide(by_key[k])[1])
    ]
    record(not mismatched, f"{label}check answers as SEMANTICS §7 reads gold ({len(by_key)} pairs)",
           f"{mismatched[:5]}")
    covered = collections.Counter(r for _, r in truth.values())
    if full:
        wanted = {"unknown_phone", "deleted", "consent_withdrawn", "allowed_explicit_consent",
                  "allowed_implicit_consent"}
        if any(r["phone_source"] != "CLIENT" for r in gold):
            wanted.add("not_client_sourced")
        record(wanted <= set(covered), f"the pairs cover every reason code {dict(sorted(covered.items()))}",
               f"missing {sorted(wanted - set(covered))}")

    # (a) the check query, every dialect and engine, over all those pairs.
    for dialect, path in shipped["can_send_sms"]:
        query = with_request(path.read_text(), pairs)
        for engine, (cols, rows) in runner.run(dialect, query).items():
            name = f"{label}{path} [{engine}]"
            got = {(r[0], r[1]): (r[2], r[3]) for r in rows}
            bad = [(k, got.get(k), truth[k]) for k in pairs if got.get(k) != truth[k]]
            record(cols == ["account_number", "phone_number", "can_send_sms", "reason"] and len(rows) == len(pairs)
                   and not bad, f"{name} = check on {len(pairs)} pairs",
                   f"{cols}, {len(rows)} rows, first differences {bad[:5]}")
        if full:  # the file as shipped (its example request) runs too
            for engine, (_, rows) in runner.run(dialect, path.read_text()).items():
                record(len(rows) == 2, f"{path} as shipped [{engine}]", f"{rows}")

    # (b) decisions_by_reason = counts of check's answers over every gold pair, and so are
    # phone_state's decision columns (written by the Rust decision code).
    counts = collections.Counter(truth[k] for k in by_key)
    expected = [(r, str(counts[("true", r)]), str(counts[("false", r)])) for r in REASONS]
    _, state = engines.datafusion(
        "SELECT reason, CAST(can_send_sms AS VARCHAR) AS allowed, count(*) AS n FROM phone_state GROUP BY 1, 2"
    )
    from_state = collections.Counter({(a, r): int(n) for r, a, n in state})
    record(from_state == counts, f"{label}phone_state's can_send_sms/reason = check", f"{from_state} vs {counts}")
    for dialect, path in shipped["decisions_by_reason"]:
        for engine, (cols, rows) in runner.run(dialect, path.read_text()).items():
            record(cols == ["reason", "allowed", "denied"] and rows == expected,
                   f"{label}{path} [{engine}] = check's counts {dict(counts)}", f"{cols} {rows} vs {expected}")
    return gold


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--lake", required=True, type=pathlib.Path)
    ap.add_argument("--sql-dir", default=pathlib.Path("sql"), type=pathlib.Path)
    ap.add_argument("--fixture-lake", action="append", default=[], type=pathlib.Path,
                    help="a lake built from a conformance scenario: the check and decisions_by_reason")
    ap.add_argument("--jobs", type=int, default=max(2, min(8, os.cpu_count() or 2)))
    args = ap.parse_args()

    engines = Engines(args.bin, args.lake.resolve())
    runner = Runner(engines)
    shipped = files(args.sql_dir)
    print(f"duckdb {duckdb.__version__}, sqlglot {sqlglot.__version__}, lake {args.lake}")

    expected_files = {"can_send_sms", "decisions_by_reason", "recent_withdrawals", "deletions_by_month"}
    for name in sorted(expected_files):
        dialects = sorted(d for d, _ in shipped.get(name, []))
        record(
            dialects == ["datafusion", "spark", "trino"],
            f"{name}: shipped for DataFusion/DuckDB, Athena and Spark",
            f"found {dialects}",
        )
    for name in sorted(set(shipped) - expected_files):
        record(False, f"{name}: a SQL file this check knows", f"{[str(p) for _, p in shipped[name]]}")

    gold = check_and_counts(engines, shipped, args.jobs, "", full=True)

    for lake in args.fixture_lake:  # the conformance scenarios: the check and the counts
        check_and_counts(Engines(args.bin, lake.resolve()), shipped, args.jobs, f"{lake.name}: ", full=False)

    # (c) recent_withdrawals: the run's feed date as report date, two windows; then a window
    # whose both ends fall on withdrawal dates (the end is in, the start out, the day after out).
    _, feed = engines.datafusion("SELECT CAST(max(feed_date) AS VARCHAR) FROM runs")
    windows = [(dt.date.fromisoformat(feed[0][0]), 30), (dt.date.fromisoformat(feed[0][0]), 365)]
    dates = sorted({r["sms_consent_updated_at"] for r in gold
                    if r["has_sms_consent"] is False and r["sms_consent_updated_at"]}, reverse=True)
    record(len(dates) >= 3, f"withdrawals on {len(dates)} distinct dates", "too few to test the window's ends")
    if len(dates) >= 3:
        windows.append((dates[1], (dates[1] - dates[2]).days))
    for as_of, days in windows:
        want = sorted(  # ORDER BY sms_consent_updated_at DESC, account_number, phone_number
            sorted(
                (r["account_number"], r["phone_number"], r["phone_source"], r["sms_consent_updated_at"].isoformat(),
                 cell(r["is_deleted"]))
                for r in gold
                if r["has_sms_consent"] is False
                and r["sms_consent_updated_at"] is not None
                and as_of - dt.timedelta(days=days) < r["sms_consent_updated_at"] <= as_of
            ),
            key=lambda t: t[3],
            reverse=True,
        )
        record(len(want) > 0, f"recent withdrawals: non-empty on the test lake (as of {as_of}, {days} days)",
               "choose another window")
        for dialect, path in shipped["recent_withdrawals"]:
            query = with_params(path.read_text(), as_of, days)
            for engine, (cols, rows) in runner.run(dialect, query).items():
                record(
                    cols == ["account_number", "phone_number", "phone_source", "sms_consent_updated_at", "is_deleted"]
                    and rows == want,
                    f"{path} [{engine}] as of {as_of}, {days} days: {len(want)} pairs",
                    f"{cols} {rows[:5]} vs {want[:5]}",
                )
    for dialect, path in shipped["recent_withdrawals"]:  # as shipped (the current date): it runs
        for engine, (cols, _) in runner.run(dialect, path.read_text()).items():
            # `phone-consent sql --format csv` prints nothing, not even a header, for no rows
            record(len(cols) in (0, 5), f"{path} as shipped [{engine}]", f"{cols}")

    # (c) deletions_by_month.
    months: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in gold:
        if r["is_deleted"]:
            m = r["deleted_at"].isoformat()[:7] if r["deleted_at"] else ""
            months[m][r["delete_type"]] += 1
    want = [
        (m, str(c["hard_delete"]), str(c["soft_delete"]), str(sum(c.values())))
        for m, c in sorted(months.items(), key=lambda kv: (kv[0] == "", kv[0]))
    ]
    record(len(want) > 1, f"deletions on the test lake ({len(want)} months)", "no deletions")
    for dialect, path in shipped["deletions_by_month"]:
        for engine, (cols, rows) in runner.run(dialect, path.read_text()).items():
            record(cols == ["month", "hard_delete", "soft_delete", "total"] and rows == want,
                   f"{path} [{engine}] = gold's deletions by month", f"{cols} {rows[:5]} vs {want[:5]}")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
