"""An independent reader (Python deltalake) reads gold phone_consent with exactly SPEC.md's
columns and types. Usage: read_gold.py LAKE"""
import sys

import deltalake
import pyarrow as pa

EXPECTED = [
    ("account_number", pa.string()),
    ("phone_number", pa.string()),
    ("phone_source", pa.string()),
    ("has_sms_consent", pa.bool_()),
    ("sms_consent_updated_at", pa.date32()),
    ("is_deleted", pa.bool_()),
    ("delete_type", pa.string()),
    ("deleted_at", pa.date32()),
]

lake = sys.argv[1]
table = deltalake.DeltaTable(f"{lake}/gold/phone_consent")
protocol = table.protocol()
assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2), protocol
data = table.to_pyarrow_table()
got = [(f.name, f.type) for f in data.schema]
norm = lambda t: pa.string() if t in (pa.large_string(), pa.string_view()) else t
assert [(n, norm(t)) for n, t in got] == EXPECTED, got
rows = data.sort_by([("account_number", "ascending")]).to_pylist()
assert [r["account_number"] for r in rows] == ["0300000000000003", "1000000000000001", "2000000000000002"], rows
assert rows[2]["delete_type"] == "hard_delete" and str(rows[2]["deleted_at"]) == "2024-02-01", rows[2]
for name in ("silver/phone_state", "silver/phone_events", "silver/change_after_delete", "bronze/nonfin", "bronze/enrollment", "bronze/rejects"):
    deltalake.DeltaTable(f"{lake}/{name}").to_pyarrow_table()
print(f"python deltalake {deltalake.__version__}: gold has SPEC.md's columns, types and rows")
print("python: 1 passed, 0 failed")
