-- Daily compliance report: deleted pairs of gold phone_consent by month of deleted_at
-- ('YYYY-MM') and delete_type (hard_delete: gone from a snapshot; soft_delete: a delete record),
-- one row per month that has any, oldest first.
-- Dialect: DataFusion / DuckDB (runs unchanged in both), over the table `phone_consent`.
--   phone-consent sql "$(cat sql/reports/deletions_by_month.sql)" --lake LAKE
--   duckdb: CREATE VIEW phone_consent AS SELECT * FROM delta_scan('LAKE/gold/phone_consent');
--           then the file's text.
SELECT
  substr(CAST(g.deleted_at AS VARCHAR), 1, 7) AS month,
  SUM(CASE WHEN g.delete_type = 'hard_delete' THEN 1 ELSE 0 END) AS hard_delete,
  SUM(CASE WHEN g.delete_type = 'soft_delete' THEN 1 ELSE 0 END) AS soft_delete,
  COUNT(*) AS total
FROM phone_consent g
WHERE g.is_deleted
GROUP BY substr(CAST(g.deleted_at AS VARCHAR), 1, 7)
ORDER BY month NULLS LAST
